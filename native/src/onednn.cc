// gradia-dist oneDNN addon: convolution (forward, backward-data, backward-weights) and pooling
// on caller-owned NHWC float32 buffers (the tfjs cpu backend's TypedArrays), zero-copy.
//
// Activations stay in plain NHWC; only the weights use the layout oneDNN prefers (format `any`),
// reordered from/to tfjs's HWIO on every call (weights change every step). Primitives are cached
// per JS thread by shape, parameters and thread count.
#include <dnnl.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <unordered_map>

#include "common.h"

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace gradia {

namespace {

thread_local int g_threads = 0;

struct Ctx {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
};
Ctx& ctx() {
  thread_local Ctx c;
  return c;
}

// Convolution parameters, in the order JS passes them.
struct ConvP {
  int64_t N, IH, IW, IC, KH, KW, OC, OH, OW, SH, SW, DH, DW, PT, PL, PB, PR;
};
ConvP convParams(const Napi::Env& env, const Napi::Value& v) {
  auto a = ints(env, v, "conv params");
  if (a.size() != 17) throw Napi::TypeError::New(env, "conv params: expected 17 numbers");
  return ConvP{a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8],
               a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16]};
}

std::string key(const char* op, const std::vector<int64_t>& v) {
  std::string k(op);
  for (auto x : v) {
    k += ',';
    k += std::to_string(x);
  }
  k += "|t";
  k += std::to_string(threads());
  return k;
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
struct PoolE {
  dnnl::pooling_forward fwd;
  dnnl::pooling_backward bwd;
  memory::desc src, dst;
  memory ws, dstBuf;
  bool hasWs = false;
  bool hasBwd = false;
};

template <typename E>
struct Cache {
  std::unordered_map<std::string, std::unique_ptr<E>> m;
  E* get(const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? nullptr : it->second.get();
  }
  E* put(const std::string& k, std::unique_ptr<E> e) {
    if (m.size() > 512) m.clear();
    E* p = e.get();
    m[k] = std::move(e);
    return p;
  }
};
thread_local Cache<ConvFwdE> cFwd;
thread_local Cache<ConvBwdDataE> cBwdD;
thread_local Cache<ConvBwdWE> cBwdW;
thread_local Cache<PoolE> cPool;

struct MatMulE {
  dnnl::matmul prim;
  memory::desc a, b, c;
};
thread_local Cache<MatMulE> cMatMul;

// act: 0 none, 1 relu, 2 relu6, 3 sigmoid, 4 elu, 5 leakyrelu(alpha)
dnnl::primitive_attr actAttr(int act, float alpha) {
  dnnl::primitive_attr attr;
  if (act == 0) return attr;
  dnnl::post_ops po;
  switch (act) {
    case 1: po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f); break;
    case 2: po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f); break;
    case 3: po.append_eltwise(1.f, algorithm::eltwise_logistic, 0.f, 0.f); break;
    case 4: po.append_eltwise(1.f, algorithm::eltwise_elu, 1.f, 0.f); break;
    case 5: po.append_eltwise(1.f, algorithm::eltwise_relu, alpha, 0.f); break;
    default: break;
  }
  attr.set_post_ops(po);
  return attr;
}

// conv2d(x, w, bias|null, y, params[17], act, alpha)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ConvP p = convParams(env, info[4]);
  int act = info[5].IsNumber() ? info[5].As<Napi::Number>().Int32Value() : 0;
  float alpha = info[6].IsNumber() ? info[6].As<Napi::Number>().FloatValue() : 0.f;
  float* x = f32(env, info[0], p.N * p.IH * p.IW * p.IC, "conv2d x");
  float* w = f32(env, info[1], p.KH * p.KW * p.IC * p.OC, "conv2d filter");
  bool hasBias = !info[2].IsNull() && !info[2].IsUndefined();
  float* b = hasBias ? f32(env, info[2], p.OC, "conv2d bias") : nullptr;
  float* y = f32(env, info[3], p.N * p.OH * p.OW * p.OC, "conv2d y");
  auto kv = convVec(p);
  kv.push_back(hasBias);
  kv.push_back(act);
  kv.push_back(static_cast<int64_t>(alpha * 1e6));
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
#pragma omp parallel for if (rows * p.OW * p.IC >= (1 << 15)) schedule(static)
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

// Pool params: N, IH, IW, C, KH, KW, OH, OW, SH, SW, PT, PL, PB, PR; kind 0 max, 1 avg (exclude padding).
struct PoolP {
  int64_t N, IH, IW, C, KH, KW, OH, OW, SH, SW, PT, PL, PB, PR;
};
PoolP poolParams(const Napi::Env& env, const Napi::Value& v) {
  auto a = ints(env, v, "pool params");
  if (a.size() != 14) throw Napi::TypeError::New(env, "pool params: expected 14 numbers");
  return PoolP{a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13]};
}

PoolE* poolEntry(const PoolP& p, int kind, bool backward) {
  std::vector<int64_t> kv{p.N, p.IH, p.IW, p.C, p.KH, p.KW, p.OH, p.OW, p.SH, p.SW, p.PT, p.PL, p.PB, p.PR, kind};
  std::string k = key(backward ? "pb" : "pf", kv);
  PoolE* e = cPool.get(k);
  if (e) return e;
  auto& c = ctx();
  auto ne = std::make_unique<PoolE>();
  ne->src = memory::desc({p.N, p.C, p.IH, p.IW}, dt::f32, tag::nhwc);
  ne->dst = memory::desc({p.N, p.C, p.OH, p.OW}, dt::f32, tag::nhwc);
  algorithm alg = kind == 0 ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding;
  memory::dims st{p.SH, p.SW}, ker{p.KH, p.KW}, pl{p.PT, p.PL}, pr{p.PB, p.PR};
  dnnl::pooling_forward::desc fd(backward ? prop_kind::forward_training : prop_kind::forward_inference, alg,
                                 ne->src, ne->dst, st, ker, pl, pr);
  dnnl::pooling_forward::primitive_desc fpd(fd, c.eng);
  ne->fwd = dnnl::pooling_forward(fpd);
  if (backward) {
    ne->hasBwd = true;
    if (kind == 0) {
      ne->hasWs = true;
      ne->ws = memory(fpd.workspace_desc(), c.eng);
      ne->dstBuf = memory(ne->dst, c.eng);
    }
    dnnl::pooling_backward::desc bd(alg, ne->src, ne->dst, st, ker, pl, pr);
    dnnl::pooling_backward::primitive_desc bpd(bd, c.eng, fpd);
    ne->bwd = dnnl::pooling_backward(bpd);
  }
  return cPool.put(k, std::move(ne));
}

// pool(x, y, params[14], kind)
Napi::Value Pool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PoolP p = poolParams(env, info[2]);
  int kind = info[3].As<Napi::Number>().Int32Value();
  float* x = f32(env, info[0], p.N * p.IH * p.IW * p.C, "pool x");
  float* y = f32(env, info[1], p.N * p.OH * p.OW * p.C, "pool y");
  auto& c = ctx();
  try {
    PoolE* e = poolEntry(p, kind, false);
    memory xm(e->src, c.eng, x), ym(e->dst, c.eng, y);
    e->fwd.execute(c.strm, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DST, ym}});
    c.strm.wait();
  } catch (const dnnl::error& err) {
    throw Napi::Error::New(env, std::string("oneDNN pool: ") + err.what());
  }
  return env.Undefined();
}

// poolBackward(x, dy, dx, params[14], kind): for max pooling the forward pass is recomputed to get
// the argmax workspace (x is needed only then).
Napi::Value PoolBwd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PoolP p = poolParams(env, info[3]);
  int kind = info[4].As<Napi::Number>().Int32Value();
  float* dy = f32(env, info[1], p.N * p.OH * p.OW * p.C, "poolBackward dy");
  float* dx = f32(env, info[2], p.N * p.IH * p.IW * p.C, "poolBackward dx");
  auto& c = ctx();
  try {
    PoolE* e = poolEntry(p, kind, true);
    if (e->hasWs) {
      float* x = f32(env, info[0], p.N * p.IH * p.IW * p.C, "poolBackward x");
      memory xm(e->src, c.eng, x);
      e->fwd.execute(c.strm, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DST, e->dstBuf}, {DNNL_ARG_WORKSPACE, e->ws}});
    }
    memory dym(e->dst, c.eng, dy), dxm(e->src, c.eng, dx);
    std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_SRC, dxm}};
    if (e->hasWs) args[DNNL_ARG_WORKSPACE] = e->ws;
    e->bwd.execute(c.strm, args);
    c.strm.wait();
  } catch (const dnnl::error& err) {
    throw Napi::Error::New(env, std::string("oneDNN poolBackward: ") + err.what());
  }
  return env.Undefined();
}

// matmul(a, b, out, [Ba, Bb, M, K, N, transposeA, transposeB]): batched, row-major; a batch of 1
// broadcasts. out is [max(Ba,Bb), M, N].
Napi::Value MatMul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto v = ints(env, info[3], "matmul params");
  if (v.size() != 7) throw Napi::TypeError::New(env, "matmul params: expected 7 numbers");
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

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 1) throw Napi::RangeError::New(info.Env(), "setThreads: need n >= 1");
  setThreadsValue(n);
  return info.Env().Undefined();
}
Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), threads()); }

Napi::Value Version(const Napi::CallbackInfo& info) {
  const dnnl_version_t* v = dnnl_version();
  char buf[96];
  std::snprintf(buf, sizeof buf, "%d.%d.%d (%s)", v->major, v->minor, v->patch, v->hash);
  return Napi::String::New(info.Env(), buf);
}

Napi::Value ClearCache(const Napi::CallbackInfo& info) {
  cFwd.m.clear();
  cBwdD.m.clear();
  cBwdW.m.clear();
  cPool.m.clear();
  cMatMul.m.clear();
  return info.Env().Undefined();
}

}  // namespace

// oneDNN sizes a primitive's work split and scratch space for the thread count at creation and
// assumes every parallel region then gets exactly that many threads. OpenMP gives fewer when
// dynamic adjustment is on (OMP_DYNAMIC=true: wrong gradients) or the count exceeds
// OMP_THREAD_LIMIT (a barrier waiting forever). So dynamic adjustment is switched off for each JS
// thread that uses the addon (the setting is per thread, like the count), and the count is never
// above what OpenMP can deliver.
int threads() {
  if (g_threads <= 0) setThreadsValue(omp_get_max_threads());
  return g_threads;
}
void setThreadsValue(int n) {
  omp_set_dynamic(0);
  g_threads = std::min(n, omp_get_thread_limit());
  omp_set_num_threads(g_threads);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2dBwdData));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2dBwdWeights));
  exports.Set("matmul", Napi::Function::New(env, MatMul));
  exports.Set("pool", Napi::Function::New(env, Pool));
  exports.Set("poolBackward", Napi::Function::New(env, PoolBwd));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("version", Napi::Function::New(env, Version));
  exports.Set("clearCache", Napi::Function::New(env, ClearCache));
  registerElementwise(env, exports);
  registerBatchNorm(env, exports);
  return exports;
}

}  // namespace gradia

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return gradia::Init(env, exports); }

NODE_API_MODULE(gradia_onednn, InitModule)
