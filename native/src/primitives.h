// oneDNN plumbing shared by conv.cc, pool.cc and matmul.cc: the per-JS-thread engine and stream,
// primitive cache keys, and the bounded primitive cache.
#pragma once
#include <dnnl.hpp>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.h"

namespace gradia {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// One CPU engine and stream per JS thread (worker threads each get their own).
struct Ctx {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
};
inline Ctx& ctx() {
  thread_local Ctx c;
  return c;
}

// Cache key: op tag, every shape/parameter number, and the thread count (a primitive is sized for
// the thread count it was created under; see threads() in addon.cc).
inline std::string key(const char* op, const std::vector<int64_t>& v) {
  std::string k(op);
  for (auto x : v) {
    k += ',';
    k += std::to_string(x);
  }
  k += "|t";
  k += std::to_string(threads());
  return k;
}

// Most primitives one cache keeps per JS thread before it starts over. A ResNet-50 step at one
// input size uses ~60 distinct shapes per cache; 512 leaves room for evaluation shapes, a last
// partial batch and a few input sizes, yet bounds the JIT code and weight buffers a run with many
// shapes could pile up (entries are not LRU-tracked: a full wipe is rare and costs one re-creation each).
constexpr size_t kMaxCachedPrimitives = 512;

template <typename E>
struct Cache {
  std::unordered_map<std::string, std::unique_ptr<E>> m;
  E* get(const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? nullptr : it->second.get();
  }
  E* put(const std::string& k, std::unique_ptr<E> e) {
    if (m.size() > kMaxCachedPrimitives) m.clear();
    E* p = e.get();
    m[k] = std::move(e);
    return p;
  }
};

// Each file's caches, emptied for the calling JS thread (addon.cc's clearCache).
void clearConvCaches();
void clearPoolCache();
void clearMatMulCache();

}  // namespace gradia
