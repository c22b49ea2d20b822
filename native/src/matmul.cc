// Batched matrix multiplication (row-major, optional transposes, batch-1 broadcast), zero-copy.
#include <dnnl.hpp>

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "op_codes.h"
#include "primitives.h"

namespace gradia {

namespace {

// matmul params from JS: Ba, Bb, M, K, N, transposeA, transposeB.
constexpr size_t kMatMulParamCount = 7;

struct MatMulE {
  dnnl::matmul prim;
  memory::desc a, b, c;
};
thread_local Cache<MatMulE> cMatMul;

// matmul(a, b, out, [Ba, Bb, M, K, N, transposeA, transposeB]): batched, row-major; a batch of 1
// broadcasts. out is [max(Ba,Bb), M, N].
Napi::Value MatMul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto v = ints(env, info[3], "matmul params");
  if (v.size() != kMatMulParamCount) throw Napi::TypeError::New(env, "matmul params: expected 7 numbers");
  int64_t Ba = v[0], Bb = v[1], M = v[2], K = v[3], N = v[4];
  bool ta = v[5] != 0, tb = v[6] != 0;
  int64_t B = std::max(Ba, Bb);
  if ((Ba != B && Ba != 1) || (Bb != B && Bb != 1)) throw Napi::RangeError::New(env, "matmul: batch mismatch");
  float* a = f32(env, info[0], Ba * M * K, "matmul a");
  float* b = f32(env, info[1], Bb * K * N, "matmul b");
  float* o = f32(env, info[2], B * M * N, "matmul out");
  std::string k = key("mm", v);
  auto& c = ctx();
  try {
    MatMulE* e = cMatMul.get(k);
    if (!e) {
      auto ne = std::make_unique<MatMulE>();
      ne->a = ta ? memory::desc({Ba, M, K}, dt::f32, memory::dims{M * K, 1, M})
                 : memory::desc({Ba, M, K}, dt::f32, memory::dims{M * K, K, 1});
      ne->b = tb ? memory::desc({Bb, K, N}, dt::f32, memory::dims{K * N, 1, K})
                 : memory::desc({Bb, K, N}, dt::f32, memory::dims{K * N, N, 1});
      ne->c = memory::desc({B, M, N}, dt::f32, memory::dims{M * N, N, 1});
      dnnl::matmul::desc d(ne->a, ne->b, ne->c);
      dnnl::matmul::primitive_desc pd(d, c.eng);
      ne->prim = dnnl::matmul(pd);
      e = cMatMul.put(k, std::move(ne));
    }
    memory am(e->a, c.eng, a), bm(e->b, c.eng, b), om(e->c, c.eng, o);
    e->prim.execute(c.strm, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, om}});
    c.strm.wait();
  } catch (const dnnl::error& err) {
    throw Napi::Error::New(env, std::string("oneDNN matmul: ") + err.what());
  }
  return env.Undefined();
}

}  // namespace

void clearMatMulCache() { cMatMul.m.clear(); }

void registerMatMul(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New(env, MatMul));
}

}  // namespace gradia
