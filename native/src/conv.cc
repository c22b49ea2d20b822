// Convolution (forward with fused bias/activation, backward-data, backward-weights) on caller-owned
// NHWC float32 buffers (the tfjs cpu backend's TypedArrays), zero-copy.
//
// Activations stay in plain NHWC; only the weights use the layout oneDNN prefers (format `any`),
// reordered from/to tfjs's HWIO on every call (weights change every step). Primitives are cached
// per JS thread by shape, parameters and thread count.
#include <dnnl.hpp>

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "op_codes.h"
#include "primitives.h"

namespace gradia {

namespace {

// conv params from JS: N, IH, IW, IC, KH, KW, OC, OH, OW, SH, SW, DH, DW, PT, PL, PB, PR.
constexpr size_t kConvParamCount = 17;
// The leaky-ReLU slope enters the cache key as an integer at this resolution (keys are integers).
constexpr float kAlphaKeyScale = 1e6f;

// Convolution parameters, in the order JS passes them.
struct ConvP {
  int64_t N, IH, IW, IC, KH, KW, OC, OH, OW, SH, SW, DH, DW, PT, PL, PB, PR;
};
ConvP convParams(const Napi::Env& env, const Napi::Value& v) {
  auto a = ints(env, v, "conv params");
  if (a.size() != kConvParamCount) throw Napi::TypeError::New(env, "conv params: expected 17 numbers");
  return ConvP{a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8],
               a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16]};
}

std::vector<int64_t> convVec(const ConvP& p) {
  return {p.N, p.IH, p.IW, p.IC, p.KH, p.KW, p.OC, p.OH, p.OW, p.SH, p.SW, p.DH, p.DW, p.PT, p.PL, p.PB, p.PR};
}

struct ConvDescs {
  memory::desc src, userW, anyW, dst, bias;
  memory::dims strides, dil, pl, pr;
};
ConvDescs convDescs(const ConvP& p) {
  ConvDescs d;
  d.src = memory::desc({p.N, p.IC, p.IH, p.IW}, dt::f32, tag::nhwc);
  d.userW = memory::desc({p.OC, p.IC, p.KH, p.KW}, dt::f32, tag::hwio);
  d.anyW = memory::desc({p.OC, p.IC, p.KH, p.KW}, dt::f32, tag::any);
  d.dst = memory::desc({p.N, p.OC, p.OH, p.OW}, dt::f32, tag::nhwc);
  d.bias = memory::desc({p.OC}, dt::f32, tag::x);
  d.strides = {p.SH, p.SW};
  d.dil = {p.DH - 1, p.DW - 1};
  d.pl = {p.PT, p.PL};
  d.pr = {p.PB, p.PR};
  return d;
}

dnnl::convolution_forward::primitive_desc fwdPd(const ConvDescs& d, bool withBias,
                                                const dnnl::primitive_attr& attr) {
  auto& c = ctx();
  if (withBias) {
    dnnl::convolution_forward::desc fd(prop_kind::forward_training, algorithm::convolution_direct, d.src,
                                       d.anyW, d.bias, d.dst, d.strides, d.dil, d.pl, d.pr);
    return dnnl::convolution_forward::primitive_desc(fd, attr, c.eng);
  }
  dnnl::convolution_forward::desc fd(prop_kind::forward_training, algorithm::convolution_direct, d.src, d.anyW,
                                     d.dst, d.strides, d.dil, d.pl, d.pr);
  return dnnl::convolution_forward::primitive_desc(fd, attr, c.eng);
}

// A weights reorder between tfjs HWIO and the primitive's chosen layout (or none).
struct WReorder {
  bool needed = false;
  dnnl::reorder prim;
  memory buf;  // weights in the primitive's layout
};
WReorder makeReorder(const memory::desc& from, const memory::desc& to, bool toUser) {
  WReorder r;
  auto& c = ctx();
  const memory::desc& other = toUser ? from : to;  // the non-user side
  if (from == to) return r;
  r.needed = true;
  r.buf = memory(other, c.eng);
  r.prim = dnnl::reorder(dnnl::reorder::primitive_desc(c.eng, from, c.eng, to));
  return r;
}

struct ConvFwdE {
  dnnl::convolution_forward prim;
  ConvDescs d;
  WReorder w;
  bool bias;
};
struct ConvBwdDataE {
  dnnl::convolution_backward_data prim;
  ConvDescs d;
  WReorder w;
};
struct ConvBwdWE {
  dnnl::convolution_backward_weights prim;
  ConvDescs d;
  WReorder w;  // primitive layout -> user HWIO
};

thread_local Cache<ConvFwdE> cFwd;
thread_local Cache<ConvBwdDataE> cBwdD;
thread_local Cache<ConvBwdWE> cBwdW;

// The activation a fused conv applies (ConvAct codes, exported in opCodes.activation).
dnnl::primitive_attr actAttr(int act, float alpha) {
  dnnl::primitive_attr attr;
  if (act == ACT_LINEAR) return attr;
  dnnl::post_ops po;
  // append_eltwise(scale, alg, alpha, beta): clip's alpha/beta are relu6's bounds, elu's alpha is
  // tfjs's fixed 1, and relu with alpha is the leaky ReLU
  switch (act) {
    case ACT_RELU: po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f); break;
    case ACT_RELU6: po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f); break;
    case ACT_SIGMOID: po.append_eltwise(1.f, algorithm::eltwise_logistic, 0.f, 0.f); break;
    case ACT_ELU: po.append_eltwise(1.f, algorithm::eltwise_elu, 1.f, 0.f); break;
    case ACT_LEAKYRELU: po.append_eltwise(1.f, algorithm::eltwise_relu, alpha, 0.f); break;
    default: break;
  }
  attr.set_post_ops(po);
  return attr;
}


// conv2d(x, w, bias|null, y, params[17], act, alpha)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ConvP p = convParams(env, info[4]);
  int act = info[5].IsNumber() ? info[5].As<Napi::Number>().Int32Value() : ACT_LINEAR;
  float alpha = info[6].IsNumber() ? info[6].As<Napi::Number>().FloatValue() : 0.f;
  float* x = f32(env, info[0], p.N * p.IH * p.IW * p.IC, "conv2d x");
  float* w = f32(env, info[1], p.KH * p.KW * p.IC * p.OC, "conv2d filter");
  bool hasBias = !info[2].IsNull() && !info[2].IsUndefined();
  float* b = hasBias ? f32(env, info[2], p.OC, "conv2d bias") : nullptr;
  float* y = f32(env, info[3], p.N * p.OH * p.OW * p.OC, "conv2d y");
  auto kv = convVec(p);
  kv.push_back(hasBias);
  kv.push_back(act);
  kv.push_back(static_cast<int64_t>(alpha * kAlphaKeyScale));
  std::string k = key("cf", kv);
  auto& c = ctx();
  try {
    ConvFwdE* e = cFwd.get(k);
    if (!e) {
      auto ne = std::make_unique<ConvFwdE>();
      ne->d = convDescs(p);
      ne->bias = hasBias;
      auto pd = fwdPd(ne->d, hasBias, actAttr(act, alpha));
      ne->prim = dnnl::convolution_forward(pd);
      ne->w = makeReorder(ne->d.userW, pd.weights_desc(), false);
      e = cFwd.put(k, std::move(ne));
    }
    memory xm(e->d.src, c.eng, x), wm(e->d.userW, c.eng, w), ym(e->d.dst, c.eng, y);
    memory wp = wm;
    if (e->w.needed) {
      e->w.prim.execute(c.strm, {{DNNL_ARG_FROM, wm}, {DNNL_ARG_TO, e->w.buf}});
      wp = e->w.buf;
    }
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wp}, {DNNL_ARG_DST, ym}};
    if (hasBias) args[DNNL_ARG_BIAS] = memory(e->d.bias, c.eng, b);
    e->prim.execute(c.strm, args);
    c.strm.wait();
  } catch (const dnnl::error& err) {
    throw Napi::Error::New(env, std::string("oneDNN conv2d: ") + err.what());
  }
  return env.Undefined();
}

// conv2dBackpropInput(dy, w, dx, params[17])
Napi::Value Conv2dBwdData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ConvP p = convParams(env, info[3]);
  float* dy = f32(env, info[0], p.N * p.OH * p.OW * p.OC, "conv2dBackpropInput dy");
  float* w = f32(env, info[1], p.KH * p.KW * p.IC * p.OC, "conv2dBackpropInput filter");
  float* dx = f32(env, info[2], p.N * p.IH * p.IW * p.IC, "conv2dBackpropInput dx");
  std::string k = key("cbd", convVec(p));
  auto& c = ctx();
  try {
    ConvBwdDataE* e = cBwdD.get(k);
    if (!e) {
      auto ne = std::make_unique<ConvBwdDataE>();
      ne->d = convDescs(p);
      auto hint = fwdPd(ne->d, false, dnnl::primitive_attr());
      dnnl::convolution_backward_data::desc bd(algorithm::convolution_direct, ne->d.src, ne->d.anyW, ne->d.dst,
                                               ne->d.strides, ne->d.dil, ne->d.pl, ne->d.pr);
      dnnl::convolution_backward_data::primitive_desc pd(bd, c.eng, hint);
      ne->prim = dnnl::convolution_backward_data(pd);
      ne->w = makeReorder(ne->d.userW, pd.weights_desc(), false);
      e = cBwdD.put(k, std::move(ne));
    }
    memory dym(e->d.dst, c.eng, dy), wm(e->d.userW, c.eng, w), dxm(e->d.src, c.eng, dx);
    memory wp = wm;
    if (e->w.needed) {
      e->w.prim.execute(c.strm, {{DNNL_ARG_FROM, wm}, {DNNL_ARG_TO, e->w.buf}});
      wp = e->w.buf;
    }
    e->prim.execute(c.strm, {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_WEIGHTS, wp}, {DNNL_ARG_DIFF_SRC, dxm}});
    c.strm.wait();
  } catch (const dnnl::error& err) {
    throw Napi::Error::New(env, std::string("oneDNN conv2dBackpropInput: ") + err.what());
  }
  return env.Undefined();
}

// A 1x1 convolution with stride > 1 and no padding reads only x[:, ::SH, ::SW, :]. oneDNN 2.6's
// jit_1x1 backward-weights copies those pixels into a per-thread scratch area itself ("rtus"); with
// fewer input channels than its SIMD block (16 on AVX-512, 8 on AVX2) that copy writes past its
// scratch space: heap corruption at 3, 5, 6, 7 threads on AVX-512, an overflow at 1 thread and a
// hang at 3 on AVX2 (issue #11; native/tools/onednn_rtus_check.cc shows it without the addon).
// We make that copy ourselves and hand oneDNN the equivalent stride-1 problem, which has no rtus step.
bool stridedOneByOne(const ConvP& p) {
  return p.KH == 1 && p.KW == 1 && (p.SH > 1 || p.SW > 1) && p.PT == 0 && p.PL == 0 && p.PB == 0 && p.PR == 0;
}
// xs[n, oh, ow, :] = x[n, oh * SH, ow * SW, :]; returns the stride-1 problem on xs.
ConvP subsampleInput(const ConvP& p, const float* x, std::vector<float>& xs) {
  xs.resize(static_cast<size_t>(p.N * p.OH * p.OW * p.IC));
  const int64_t rows = p.N * p.OH;
#pragma omp parallel for if (rows * p.OW * p.IC >= kParMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t n = r / p.OH, oh = r % p.OH;
    const float* src = x + ((n * p.IH + oh * p.SH) * p.IW) * p.IC;
    float* dst = xs.data() + r * p.OW * p.IC;
    for (int64_t ow = 0; ow < p.OW; ow++) std::copy(src + ow * p.SW * p.IC, src + ow * p.SW * p.IC + p.IC, dst + ow * p.IC);
  }
  ConvP q = p;
  q.IH = p.OH;
  q.IW = p.OW;
  q.SH = q.SW = 1;
  return q;
}

// conv2dBackpropFilter(x, dy, dw, params[17])
Napi::Value Conv2dBwdWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ConvP p = convParams(env, info[3]);
  float* x = f32(env, info[0], p.N * p.IH * p.IW * p.IC, "conv2dBackpropFilter x");
  float* dy = f32(env, info[1], p.N * p.OH * p.OW * p.OC, "conv2dBackpropFilter dy");
  float* dw = f32(env, info[2], p.KH * p.KW * p.IC * p.OC, "conv2dBackpropFilter dw");
  std::vector<float> xs;
  if (stridedOneByOne(p)) {
    p = subsampleInput(p, x, xs);
    x = xs.data();
  }
  std::string k = key("cbw", convVec(p));
  auto& c = ctx();
  try {
    ConvBwdWE* e = cBwdW.get(k);
    if (!e) {
      auto ne = std::make_unique<ConvBwdWE>();
      ne->d = convDescs(p);
      auto hint = fwdPd(ne->d, false, dnnl::primitive_attr());
      dnnl::convolution_backward_weights::desc wd(algorithm::convolution_direct, ne->d.src, ne->d.anyW,
                                                  ne->d.dst, ne->d.strides, ne->d.dil, ne->d.pl, ne->d.pr);
      dnnl::convolution_backward_weights::primitive_desc pd(wd, c.eng, hint);
      ne->prim = dnnl::convolution_backward_weights(pd);
      ne->w = makeReorder(pd.diff_weights_desc(), ne->d.userW, true);
      e = cBwdW.put(k, std::move(ne));
    }
    memory xm(e->d.src, c.eng, x), dym(e->d.dst, c.eng, dy), dwm(e->d.userW, c.eng, dw);
    memory target = e->w.needed ? e->w.buf : dwm;
    e->prim.execute(c.strm, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, target}});
    if (e->w.needed) e->w.prim.execute(c.strm, {{DNNL_ARG_FROM, e->w.buf}, {DNNL_ARG_TO, dwm}});
    c.strm.wait();
  } catch (const dnnl::error& err) {
    throw Napi::Error::New(env, std::string("oneDNN conv2dBackpropFilter: ") + err.what());
  }
  return env.Undefined();
}

}  // namespace

void clearConvCaches() {
  cFwd.m.clear();
  cBwdD.m.clear();
  cBwdW.m.clear();
}

void registerConv(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2dBwdData));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2dBwdWeights));
}

}  // namespace gradia
