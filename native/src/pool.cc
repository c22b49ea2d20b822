// Max and average pooling (forward and backward) on NHWC float32 buffers, zero-copy.
#include <dnnl.hpp>

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "op_codes.h"
#include "primitives.h"

namespace gradia {

namespace {

// pool params from JS: N, IH, IW, C, KH, KW, OH, OW, SH, SW, PT, PL, PB, PR.
constexpr size_t kPoolParamCount = 14;

struct PoolE {
  dnnl::pooling_forward fwd;
  dnnl::pooling_backward bwd;
  memory::desc src, dst;
  memory ws, dstBuf;
  bool hasWs = false;
  bool hasBwd = false;
};

thread_local Cache<PoolE> cPool;

// Pool params: N, IH, IW, C, KH, KW, OH, OW, SH, SW, PT, PL, PB, PR; kind: PoolKind (op_codes.h).
struct PoolP {
  int64_t N, IH, IW, C, KH, KW, OH, OW, SH, SW, PT, PL, PB, PR;
};
PoolP poolParams(const Napi::Env& env, const Napi::Value& v) {
  auto a = ints(env, v, "pool params");
  if (a.size() != kPoolParamCount) throw Napi::TypeError::New(env, "pool params: expected 14 numbers");
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
  algorithm alg = kind == POOL_MAX ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding;
  memory::dims st{p.SH, p.SW}, ker{p.KH, p.KW}, pl{p.PT, p.PL}, pr{p.PB, p.PR};
  dnnl::pooling_forward::desc fd(backward ? prop_kind::forward_training : prop_kind::forward_inference, alg,
                                 ne->src, ne->dst, st, ker, pl, pr);
  dnnl::pooling_forward::primitive_desc fpd(fd, c.eng);
  ne->fwd = dnnl::pooling_forward(fpd);
  if (backward) {
    ne->hasBwd = true;
    if (kind == POOL_MAX) {
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
  if (kind != POOL_MAX && kind != POOL_AVG) throw Napi::RangeError::New(env, "pool: unknown kind");
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
  if (kind != POOL_MAX && kind != POOL_AVG) throw Napi::RangeError::New(env, "poolBackward: unknown kind");
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

}  // namespace

void clearPoolCache() { cPool.m.clear(); }

void registerPool(Napi::Env env, Napi::Object exports) {
  exports.Set("pool", Napi::Function::New(env, Pool));
  exports.Set("poolBackward", Napi::Function::New(env, PoolBwd));
}

}  // namespace gradia
