// Elementwise, broadcasting binary, reduction and addN kernels on float32 buffers (OpenMP loops).
#include <algorithm>
#include <cmath>
#include <limits>

#include "common.h"
#include "op_codes.h"

namespace gradia {

namespace {

// ---------- binary with broadcasting ----------
template <int OP>
inline float bop(float a, float b) {
  if constexpr (OP == ADD) return a + b;
  if constexpr (OP == SUB) return a - b;
  if constexpr (OP == MUL) return a * b;
  if constexpr (OP == DIV) return a / b;
  if constexpr (OP == MAX) return (std::isnan(a) || std::isnan(b)) ? NAN : (a > b ? a : b);
  if constexpr (OP == MIN) return (std::isnan(a) || std::isnan(b)) ? NAN : (a < b ? a : b);
  if constexpr (OP == SQDIFF) return (a - b) * (a - b);
  return 0.f;
}

// Collapsed broadcast geometry: out dims d[], strides of a and b (0 where broadcast).
struct Geo {
  std::vector<int64_t> d, sa, sb;
  int64_t total = 1;
};

Geo geometry(std::vector<int64_t> as, std::vector<int64_t> bs, const std::vector<int64_t>& os) {
  size_t R = os.size();
  while (as.size() < R) as.insert(as.begin(), 1);
  while (bs.size() < R) bs.insert(bs.begin(), 1);
  // row-major strides, zeroed on broadcast dims
  std::vector<int64_t> sa(R), sb(R);
  int64_t ta = 1, tb = 1;
  for (size_t i = R; i-- > 0;) {
    sa[i] = as[i] == 1 ? 0 : ta;
    sb[i] = bs[i] == 1 ? 0 : tb;
    ta *= as[i];
    tb *= bs[i];
  }
  Geo g;
  for (size_t i = 0; i < R; i++) {
    if (os[i] == 1) continue;
    if (!g.d.empty()) {
      size_t j = g.d.size() - 1;
      // merge dim i into the previous kept dim when both operands are contiguous across them
      if (g.sa[j] == sa[i] * os[i] && g.sb[j] == sb[i] * os[i]) {
        g.d[j] *= os[i];
        g.sa[j] = sa[i];
        g.sb[j] = sb[i];
        continue;
      }
    }
    g.d.push_back(os[i]);
    g.sa.push_back(sa[i]);
    g.sb.push_back(sb[i]);
  }
  if (g.d.empty()) {
    g.d = {1};
    g.sa = {0};
    g.sb = {0};
  }
  for (auto x : g.d) g.total *= x;
  return g;
}

template <int OP>
void binaryRun(const Geo& g, const float* a, const float* b, float* o) {
  size_t R = g.d.size();
  int64_t L = g.d[R - 1];
  int64_t ia = g.sa[R - 1], ib = g.sb[R - 1];
  int64_t outer = g.total / L;
  bool par = g.total >= kParMin;
  if (outer == 1) {
#pragma omp parallel for if (par) schedule(static)
    for (int64_t i = 0; i < L; i++) o[i] = bop<OP>(a[i * ia], b[i * ib]);
    return;
  }
#pragma omp parallel for if (par) schedule(static)
  for (int64_t q = 0; q < outer; q++) {
    int64_t offA = 0, offB = 0, rem = q;
    for (size_t k = R - 1; k-- > 0;) {
      int64_t idx = rem % g.d[k];
      rem /= g.d[k];
      offA += idx * g.sa[k];
      offB += idx * g.sb[k];
    }
    const float* pa = a + offA;
    const float* pb = b + offB;
    float* po = o + q * L;
    if (ia == 1 && ib == 1) {
      for (int64_t i = 0; i < L; i++) po[i] = bop<OP>(pa[i], pb[i]);
    } else if (ia == 1) {
      float vb = pb[0];
      for (int64_t i = 0; i < L; i++) po[i] = bop<OP>(pa[i], vb);
    } else if (ib == 1) {
      float va = pa[0];
      for (int64_t i = 0; i < L; i++) po[i] = bop<OP>(va, pb[i]);
    } else {
      float v = bop<OP>(pa[0], pb[0]);
      for (int64_t i = 0; i < L; i++) po[i] = v;
    }
  }
}

int64_t prod(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (auto x : s) n *= x;
  return n;
}

// binary(op, a, aShape, b, bShape, out, outShape)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int op = info[0].As<Napi::Number>().Int32Value();
  auto as = ints(env, info[2], "binary aShape");
  auto bs = ints(env, info[4], "binary bShape");
  auto os = ints(env, info[6], "binary outShape");
  const float* a = f32(env, info[1], prod(as), "binary a");
  const float* b = f32(env, info[3], prod(bs), "binary b");
  float* o = f32(env, info[5], prod(os), "binary out");
  if (as.size() > os.size() || bs.size() > os.size()) throw Napi::RangeError::New(env, "binary: rank mismatch");
  for (size_t i = 0; i < as.size(); i++) {
    int64_t od = os[os.size() - as.size() + i];
    if (as[i] != 1 && as[i] != od) throw Napi::RangeError::New(env, "binary: a does not broadcast to out");
  }
  for (size_t i = 0; i < bs.size(); i++) {
    int64_t od = os[os.size() - bs.size() + i];
    if (bs[i] != 1 && bs[i] != od) throw Napi::RangeError::New(env, "binary: b does not broadcast to out");
  }
  Geo g = geometry(as, bs, os);
  if (prod(os) == 0) return env.Undefined();
  switch (op) {
    case ADD: binaryRun<ADD>(g, a, b, o); break;
    case SUB: binaryRun<SUB>(g, a, b, o); break;
    case MUL: binaryRun<MUL>(g, a, b, o); break;
    case DIV: binaryRun<DIV>(g, a, b, o); break;
    case MAX: binaryRun<MAX>(g, a, b, o); break;
    case MIN: binaryRun<MIN>(g, a, b, o); break;
    case SQDIFF: binaryRun<SQDIFF>(g, a, b, o); break;
    default: throw Napi::RangeError::New(env, "binary: unknown op");
  }
  return env.Undefined();
}

// ---------- reductions over [outer, r, inner] ----------
template <int OP>
void reduceRun(const float* x, float* out, int64_t outer, int64_t r, int64_t inner) {
  const int64_t total = outer * r * inner;
  const bool par = total >= kParMin;
  const bool isSum = OP == RSUM || OP == RMEAN;
  const double scale = OP == RMEAN ? 1.0 / static_cast<double>(r) : 1.0;
  if (inner == 1) {
#pragma omp parallel for if (par && outer > 1) schedule(static)
    for (int64_t o = 0; o < outer; o++) {
      const float* p = x + o * r;
      if (isSum) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int64_t j = 0;
        for (; j + 4 <= r; j += 4) {
          s0 += p[j];
          s1 += p[j + 1];
          s2 += p[j + 2];
          s3 += p[j + 3];
        }
        for (; j < r; j++) s0 += p[j];
        out[o] = static_cast<float>((s0 + s1 + s2 + s3) * scale);
      } else {
        float m = p[0];
        bool nan = false;
        for (int64_t j = 0; j < r; j++) {
          if (std::isnan(p[j])) nan = true;
          m = OP == RMAX ? (p[j] > m ? p[j] : m) : (p[j] < m ? p[j] : m);
        }
        out[o] = nan ? NAN : m;
      }
    }
    // outer == 1 with a huge r is handled serially above; split it when large
    return;
  }
  // inner > 1
  int T = par ? threads() : 1;
  if (outer >= T || T == 1) {
#pragma omp parallel if (par)
    {
      std::vector<double> acc(inner);
      std::vector<float> mx(inner);
#pragma omp for schedule(static)
      for (int64_t o = 0; o < outer; o++) {
        const float* p = x + o * r * inner;
        if (isSum) {
          std::fill(acc.begin(), acc.end(), 0.0);
          for (int64_t j = 0; j < r; j++) {
            const float* q = p + j * inner;
            for (int64_t i = 0; i < inner; i++) acc[i] += q[i];
          }
          for (int64_t i = 0; i < inner; i++) out[o * inner + i] = static_cast<float>(acc[i] * scale);
        } else {
          std::copy(p, p + inner, mx.begin());
          for (int64_t j = 1; j < r; j++) {
            const float* q = p + j * inner;
            for (int64_t i = 0; i < inner; i++)
              mx[i] = OP == RMAX ? (q[i] > mx[i] || std::isnan(q[i]) ? q[i] : mx[i])
                                 : (q[i] < mx[i] || std::isnan(q[i]) ? q[i] : mx[i]);
          }
          std::copy(mx.begin(), mx.end(), out + o * inner);
        }
      }
    }
    return;
  }
  // few outer rows, many threads: split r across threads, combine partials
  for (int64_t o = 0; o < outer; o++) {
    const float* p = x + o * r * inner;
    std::vector<double> part(static_cast<size_t>(T) * inner, 0.0);
    std::vector<float> partM(static_cast<size_t>(T) * inner, 0.f);
    std::vector<char> used(T, 0);
#pragma omp parallel num_threads(T)
    {
      int t = omp_get_thread_num();
      int nt = omp_get_num_threads();
      int64_t j0 = r * t / nt, j1 = r * (t + 1) / nt;
      if (j1 > j0) {
        used[t] = 1;
        if (isSum) {
          double* acc = part.data() + static_cast<size_t>(t) * inner;
          for (int64_t j = j0; j < j1; j++) {
            const float* q = p + j * inner;
            for (int64_t i = 0; i < inner; i++) acc[i] += q[i];
          }
        } else {
          float* m = partM.data() + static_cast<size_t>(t) * inner;
          std::copy(p + j0 * inner, p + j0 * inner + inner, m);
          for (int64_t j = j0 + 1; j < j1; j++) {
            const float* q = p + j * inner;
            for (int64_t i = 0; i < inner; i++)
              m[i] = OP == RMAX ? (q[i] > m[i] || std::isnan(q[i]) ? q[i] : m[i])
                                : (q[i] < m[i] || std::isnan(q[i]) ? q[i] : m[i]);
          }
        }
      }
    }
    for (int64_t i = 0; i < inner; i++) {
      if (isSum) {
        double s = 0;
        for (int t = 0; t < T; t++) s += part[static_cast<size_t>(t) * inner + i];
        out[o * inner + i] = static_cast<float>(s * scale);
      } else {
        bool first = true;
        float m = 0;
        for (int t = 0; t < T; t++) {
          if (!used[t]) continue;
          float v = partM[static_cast<size_t>(t) * inner + i];
          if (first || std::isnan(v) || (OP == RMAX ? v > m : v < m)) m = v;
          first = false;
          if (std::isnan(m)) break;
        }
        out[o * inner + i] = m;
      }
    }
  }
}

// reduce(op, x, outer, r, inner, out)
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int op = info[0].As<Napi::Number>().Int32Value();
  int64_t outer = info[2].As<Napi::Number>().Int64Value();
  int64_t r = info[3].As<Napi::Number>().Int64Value();
  int64_t inner = info[4].As<Napi::Number>().Int64Value();
  if (outer < 1 || r < 1 || inner < 1) throw Napi::RangeError::New(env, "reduce: empty extent");
  const float* x = f32(env, info[1], outer * r * inner, "reduce x");
  float* o = f32(env, info[5], outer * inner, "reduce out");
  switch (op) {
    case RSUM: reduceRun<RSUM>(x, o, outer, r, inner); break;
    case RMEAN: reduceRun<RMEAN>(x, o, outer, r, inner); break;
    case RMAX: reduceRun<RMAX>(x, o, outer, r, inner); break;
    case RMIN: reduceRun<RMIN>(x, o, outer, r, inner); break;
    default: throw Napi::RangeError::New(env, "reduce: unknown op");
  }
  return env.Undefined();
}

// ---------- unary ----------
// unary(op, x, out, n, alpha)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int op = info[0].As<Napi::Number>().Int32Value();
  int64_t n = info[3].As<Napi::Number>().Int64Value();
  float alpha = info[4].IsNumber() ? info[4].As<Napi::Number>().FloatValue() : 0.f;
  const float* x = f32(env, info[1], n, "unary x");
  float* o = f32(env, info[2], n, "unary out");
  bool par = n >= kParMin;
#define UNARY_LOOP(EXPR)                                  \
  {                                                       \
    _Pragma("omp parallel for if (par) schedule(static)") \
    for (int64_t i = 0; i < n; i++) {                     \
      float v = x[i];                                     \
      o[i] = (EXPR);                                      \
    }                                                     \
  }                                                       \
  break;
  switch (op) {
    case RELU: UNARY_LOOP(std::isnan(v) ? v : (v > 0.f ? v : 0.f))
    case NEG: UNARY_LOOP(-v)
    case EXP: UNARY_LOOP(std::exp(v))
    case LOG: UNARY_LOOP(std::log(v))
    case SQRT: UNARY_LOOP(std::sqrt(v))
    case RSQRT: UNARY_LOOP(1.f / std::sqrt(v))
    case SQUARE: UNARY_LOOP(v * v)
    case ABS: UNARY_LOOP(std::fabs(v))
    case STEP: UNARY_LOOP(std::isnan(v) ? NAN : (v > 0.f ? 1.f : alpha))
    case SIGMOID: UNARY_LOOP(1.f / (1.f + std::exp(-v)))
    case RELU6: UNARY_LOOP(std::isnan(v) ? v : std::min(std::max(v, 0.f), 6.f))
    default: throw Napi::RangeError::New(env, "unary: unknown op");
  }
#undef UNARY_LOOP
  return env.Undefined();
}

// addN([a, b, ...], out, n)
Napi::Value AddN(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t n = info[2].As<Napi::Number>().Int64Value();
  auto arr = info[0].As<Napi::Array>();
  std::vector<const float*> xs(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) xs[i] = f32(env, arr.Get(i), n, "addN input");
  float* o = f32(env, info[1], n, "addN out");
  size_t k = xs.size();
  bool par = n * static_cast<int64_t>(k) >= kParMin;
#pragma omp parallel for if (par) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float s = 0.f;
    for (size_t j = 0; j < k; j++) s += xs[j][i];
    o[i] = s;
  }
  return env.Undefined();
}

// stridedCopy(src, srcOff, srcStrides, dst, dstOff, dstStrides, shape): dst[dstOff + i.dstStrides] =
// src[srcOff + i.srcStrides] for every index i of shape (strides in elements, may be negative).
// Slice, Transpose, Reverse and Pad are all this copy.
Napi::Value StridedCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto ss = ints(env, info[2], "stridedCopy srcStrides");
  auto ds = ints(env, info[5], "stridedCopy dstStrides");
  auto shape = ints(env, info[6], "stridedCopy shape");
  int64_t so = info[1].As<Napi::Number>().Int64Value();
  int64_t doff = info[4].As<Napi::Number>().Int64Value();
  size_t R = shape.size();
  if (ss.size() != R || ds.size() != R) throw Napi::RangeError::New(env, "stridedCopy: rank mismatch");
  int64_t total = prod(shape);
  if (total == 0) return env.Undefined();
  // bounds: min/max offsets touched on each side
  int64_t sMin = so, sMax = so, dMin = doff, dMax = doff;
  for (size_t k = 0; k < R; k++) {
    int64_t e = (shape[k] - 1);
    (ss[k] >= 0 ? sMax : sMin) += e * ss[k];
    (ds[k] >= 0 ? dMax : dMin) += e * ds[k];
  }
  const float* src = f32(env, info[0], 0, "stridedCopy src");
  float* dst = f32(env, info[3], 0, "stridedCopy dst");
  auto sa = info[0].As<Napi::Float32Array>();
  auto da = info[3].As<Napi::Float32Array>();
  if (sMin < 0 || sMax >= static_cast<int64_t>(sa.ElementLength()) || dMin < 0 || dMax >= static_cast<int64_t>(da.ElementLength()))
    throw Napi::RangeError::New(env, "stridedCopy: out of bounds");
  if (R == 0) {
    dst[doff] = src[so];
    return env.Undefined();
  }
  int64_t L = shape[R - 1], sl = ss[R - 1], dl = ds[R - 1];
  int64_t outer = total / L;
#pragma omp parallel for if (total >= kParMin) schedule(static)
  for (int64_t q = 0; q < outer; q++) {
    int64_t a = so, b = doff, rem = q;
    for (size_t k = R - 1; k-- > 0;) {
      int64_t idx = rem % shape[k];
      rem /= shape[k];
      a += idx * ss[k];
      b += idx * ds[k];
    }
    const float* ps = src + a;
    float* pd = dst + b;
    if (sl == 1 && dl == 1) {
      std::copy(ps, ps + L, pd);
    } else {
      for (int64_t i = 0; i < L; i++) pd[i * dl] = ps[i * sl];
    }
  }
  return env.Undefined();
}

// fill(dst, value, n)
Napi::Value Fill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t n = info[2].As<Napi::Number>().Int64Value();
  float* d = f32(env, info[0], n, "fill dst");
  float v = info[1].As<Napi::Number>().FloatValue();
#pragma omp parallel for if (n >= kParMin) schedule(static)
  for (int64_t i = 0; i < n; i++) d[i] = v;
  return env.Undefined();
}

}  // namespace

void registerElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("reduce", Napi::Function::New(env, Reduce));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("addN", Napi::Function::New(env, AddN));
  exports.Set("stridedCopy", Napi::Function::New(env, StridedCopy));
  exports.Set("fill", Napi::Function::New(env, Fill));
}

}  // namespace gradia
