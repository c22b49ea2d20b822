// Shared helpers for the gradia-dist oneDNN addon.
#pragma once
#include <napi.h>
#include <omp.h>

#include <cstdint>
#include <string>
#include <vector>

namespace gradia {

// Float32Array argument -> pointer (checks type and minimum length).
inline float* f32(const Napi::Env& env, const Napi::Value& v, size_t minLen, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(env, std::string(what) + ": expected a Float32Array");
  }
  auto a = v.As<Napi::Float32Array>();
  if (a.ElementLength() < minLen) {
    throw Napi::RangeError::New(env, std::string(what) + ": Float32Array has " +
                                         std::to_string(a.ElementLength()) + " elements, needs " +
                                         std::to_string(minLen));
  }
  return a.Data();
}

// Array of numbers -> vector<int64_t>.
inline std::vector<int64_t> ints(const Napi::Env& env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + ": expected an array of numbers");
  auto a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) throw Napi::TypeError::New(env, std::string(what) + ": expected numbers");
    out[i] = e.As<Napi::Number>().Int64Value();
  }
  return out;
}

// Below this many elements (128 KiB of float32) a loop stays single-threaded: waking the OpenMP
// team costs more than the loop itself.
constexpr int64_t kParMin = 1 << 15;

// Per-JS-thread thread count (OpenMP ICVs are per thread too, so each worker thread keeps its own).
int threads();
void setThreadsValue(int n);

// Each source file adds its functions to the module's exports (addon.cc calls them all).
void registerConv(Napi::Env env, Napi::Object exports);
void registerPool(Napi::Env env, Napi::Object exports);
void registerMatMul(Napi::Env env, Napi::Object exports);
void registerElementwise(Napi::Env env, Napi::Object exports);
void registerBatchNorm(Napi::Env env, Napi::Object exports);
void registerRelu(Napi::Env env, Napi::Object exports);
void registerAdam(Napi::Env env, Napi::Object exports);

}  // namespace gradia
