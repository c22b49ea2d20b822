// The op codes the kernels switch on, one X-macro list per family: X(ENUM, jsName). The enums
// below and the addon's `opCodes` export (addon.cc) both come from these lists, and the TS side
// (src/backend/onednn/op_codes.ts) looks every code up by name when it loads, so a code cannot
// drift between C++ and TS: a renamed or removed name fails at load.
#pragma once

namespace gradia {

// binary(op, ...): numpy-broadcasting elementwise ops
#define GRADIA_BINARY_OPS(X) \
  X(ADD, add)                \
  X(SUB, sub)                \
  X(MUL, mul)                \
  X(DIV, div)                \
  X(MAX, max)                \
  X(MIN, min)                \
  X(SQDIFF, squaredDifference)

// unary(op, ...): elementwise ops; `step` uses alpha for x <= 0
#define GRADIA_UNARY_OPS(X) \
  X(RELU, relu)             \
  X(NEG, neg)               \
  X(EXP, exp)               \
  X(LOG, log)               \
  X(SQRT, sqrt)             \
  X(RSQRT, rsqrt)           \
  X(SQUARE, square)         \
  X(ABS, abs)               \
  X(STEP, step)             \
  X(SIGMOID, sigmoid)       \
  X(RELU6, relu6)

// reduce(op, ...): over the middle axis of [outer, r, inner]
#define GRADIA_REDUCE_OPS(X) \
  X(RSUM, sum)               \
  X(RMEAN, mean)             \
  X(RMAX, max)               \
  X(RMIN, min)

// pool(..., kind): average pooling excludes the padding (tfjs's semantics)
#define GRADIA_POOL_KINDS(X) \
  X(POOL_MAX, max)           \
  X(POOL_AVG, avg)

// conv2d(..., act, alpha): the activation fused after the convolution (tfjs's names)
#define GRADIA_CONV_ACTIVATIONS(X) \
  X(ACT_LINEAR, linear)            \
  X(ACT_RELU, relu)                \
  X(ACT_RELU6, relu6)              \
  X(ACT_SIGMOID, sigmoid)          \
  X(ACT_ELU, elu)                  \
  X(ACT_LEAKYRELU, leakyrelu)

#define GRADIA_ENUM_ENTRY(ENUM, NAME) ENUM,
enum BinOp { GRADIA_BINARY_OPS(GRADIA_ENUM_ENTRY) };
enum UnOp { GRADIA_UNARY_OPS(GRADIA_ENUM_ENTRY) };
enum RedOp { GRADIA_REDUCE_OPS(GRADIA_ENUM_ENTRY) };
enum PoolKind { GRADIA_POOL_KINDS(GRADIA_ENUM_ENTRY) };
enum ConvAct { GRADIA_CONV_ACTIVATIONS(GRADIA_ENUM_ENTRY) };
#undef GRADIA_ENUM_ENTRY

}  // namespace gradia
