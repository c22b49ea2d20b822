// The ReLU pieces the fused ops use: the ReLU gradient and the residual join relu(a + b).
#include "common.h"

namespace gradia {

namespace {

// reluGrad(dy, y, dx, n): dx = dy where y > 0 else 0 (y may be the ReLU input or output)
Napi::Value ReluGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t n = info[3].As<Napi::Number>().Int64Value();
  const float* dy = f32(env, info[0], n, "reluGrad dy");
  const float* y = f32(env, info[1], n, "reluGrad y");
  float* dx = f32(env, info[2], n, "reluGrad dx");
#pragma omp parallel for if (n >= kParMin) schedule(static)
  for (int64_t i = 0; i < n; i++) dx[i] = y[i] > 0.f ? dy[i] : 0.f;
  return env.Undefined();
}
// addRelu(a, b, y, n): y = max(a + b, 0) (the residual join of a ResNet block)
Napi::Value AddRelu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t n = info[3].As<Napi::Number>().Int64Value();
  const float* a = f32(env, info[0], n, "addRelu a");
  const float* b = f32(env, info[1], n, "addRelu b");
  float* y = f32(env, info[2], n, "addRelu y");
#pragma omp parallel for if (n >= kParMin) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float v = a[i] + b[i];
    y[i] = v > 0.f ? v : 0.f;
  }
  return env.Undefined();
}

}  // namespace

void registerRelu(Napi::Env env, Napi::Object exports) {
  exports.Set("reluGrad", Napi::Function::New(env, ReluGrad));
  exports.Set("addRelu", Napi::Function::New(env, AddRelu));
}

}  // namespace gradia
