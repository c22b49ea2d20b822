// gradia-dist oneDNN addon: the module's exports (every kernel file registers its functions), the
// op-code table the TS side resolves its codes from, and the per-JS-thread thread count.
#include <dnnl.hpp>

#include <algorithm>
#include <cstdio>

#include "op_codes.h"
#include "primitives.h"

namespace gradia {

namespace {

thread_local int g_threads = 0;

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 1) throw Napi::RangeError::New(info.Env(), "setThreads: need n >= 1");
  setThreadsValue(n);
  return info.Env().Undefined();
}
Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), threads()); }

Napi::Value Version(const Napi::CallbackInfo& info) {
  const dnnl_version_t* v = dnnl_version();
  char buf[96];  // "major.minor.patch (hash)": 3 ints and a 40-character git hash fit with room
  std::snprintf(buf, sizeof buf, "%d.%d.%d (%s)", v->major, v->minor, v->patch, v->hash);
  return Napi::String::New(info.Env(), buf);
}

Napi::Value ClearCache(const Napi::CallbackInfo& info) {
  clearConvCaches();
  clearPoolCache();
  clearMatMulCache();
  return info.Env().Undefined();
}

// {name: code} for one op family, from its X-macro list in op_codes.h.
#define GRADIA_OPCODE_ENTRY(ENUM, NAME) o.Set(#NAME, Napi::Number::New(env, ENUM));
Napi::Object opCodeTable(Napi::Env env) {
  Napi::Object t = Napi::Object::New(env);
// One family of the table: its names and codes, from the family's X-macro list.
#define GRADIA_OPCODE_FAMILY(LIST, FAMILY) \
  {                                          \
    Napi::Object o = Napi::Object::New(env); \
    LIST(GRADIA_OPCODE_ENTRY)                \
    t.Set(FAMILY, o);                        \
  }
  GRADIA_OPCODE_FAMILY(GRADIA_BINARY_OPS, "binary")
  GRADIA_OPCODE_FAMILY(GRADIA_UNARY_OPS, "unary")
  GRADIA_OPCODE_FAMILY(GRADIA_REDUCE_OPS, "reduce")
  GRADIA_OPCODE_FAMILY(GRADIA_POOL_KINDS, "pool")
  GRADIA_OPCODE_FAMILY(GRADIA_CONV_ACTIVATIONS, "activation")
#undef GRADIA_OPCODE_FAMILY
  t.Freeze();
  return t;
}
#undef GRADIA_OPCODE_ENTRY

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
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("version", Napi::Function::New(env, Version));
  exports.Set("clearCache", Napi::Function::New(env, ClearCache));
  exports.Set("opCodes", opCodeTable(env));
  registerConv(env, exports);
  registerPool(env, exports);
  registerMatMul(env, exports);
  registerElementwise(env, exports);
  registerBatchNorm(env, exports);
  registerRelu(env, exports);
  registerAdam(env, exports);
  return exports;
}

}  // namespace gradia

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return gradia::Init(env, exports); }

NODE_API_MODULE(gradia_onednn, InitModule)
