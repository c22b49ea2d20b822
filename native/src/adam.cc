// Adam's update over flat float32 parameter / gradient / moment vectors, in place.
#include <cmath>

#include "common.h"

namespace gradia {

namespace {

// adamStep(params, grads, m, v, n, stepSize, bc2Sqrt, b1, b2, a1, a2, eps): torch's single-tensor Adam,
// every operation rounded to float32 (bit-identical to the Math.fround loop of src/model/adam.ts).
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t n = info[4].As<Napi::Number>().Int64Value();
  float* p = f32(env, info[0], n, "adamStep params");
  const float* g = f32(env, info[1], n, "adamStep grads");
  float* m = f32(env, info[2], n, "adamStep m");
  float* v = f32(env, info[3], n, "adamStep v");
  const float stepSize = info[5].As<Napi::Number>().FloatValue();
  const float bc2Sqrt = info[6].As<Napi::Number>().FloatValue();
  const float b1 = info[7].As<Napi::Number>().FloatValue();
  const float b2 = info[8].As<Napi::Number>().FloatValue();
  const float a1 = info[9].As<Napi::Number>().FloatValue();
  const float a2 = info[10].As<Napi::Number>().FloatValue();
  const float eps = info[11].As<Napi::Number>().FloatValue();
#pragma omp parallel for if (n >= kParMin) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i];  // plain float ops: no -ffast-math, no contraction (-ffp-contract=off)
    float mi = m[i] * b1;
    float t1 = gi * a1;
    mi = mi + t1;
    float vi = v[i] * b2;
    float gg = gi * gi;
    float t2 = gg * a2;
    vi = vi + t2;
    m[i] = mi;
    v[i] = vi;
    float denom = std::sqrt(vi) / bc2Sqrt;
    denom = denom + eps;
    float upd = mi / denom;
    upd = upd * stepSize;
    p[i] = p[i] - upd;
  }
  return env.Undefined();
}

}  // namespace

void registerAdam(Napi::Env env, Napi::Object exports) {
  exports.Set("adamStep", Napi::Function::New(env, AdamStep));
}

}  // namespace gradia
