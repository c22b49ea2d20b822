// Batch norm over the leading axes of a [rows, C] view of an NHWC tensor (training statistics,
// apply, backward), as OpenMP loops with double accumulators.
#include <algorithm>
#include <cmath>

#include "common.h"

namespace gradia {

namespace {

// Rows summed in float before the block's sums go into the double accumulators: long enough for
// the inner loop to vectorise over C, short enough (64 rows) that the float partial sums lose
// only ~64 * eps relative before they are widened.
constexpr int64_t kRowBlock = 64;

// Column sums over rows: f(r0, r1, acc) adds rows [r0, r1) into nOut*C float accumulators; blocks of
// kRowBlock rows are summed in float (vectorisable) and the block sums in double, per thread.
template <typename F>
void colSums(int64_t rows, int64_t C, double* out, int nOut, F f) {
  int T = rows * C >= kParMin ? threads() : 1;
  std::vector<double> part(static_cast<size_t>(T) * C * nOut, 0.0);
#pragma omp parallel num_threads(T)
  {
    int t = omp_get_thread_num();
    int nt = omp_get_num_threads();
    int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    double* acc = part.data() + static_cast<size_t>(t) * C * nOut;
    std::vector<float> block(static_cast<size_t>(C) * nOut);
    for (int64_t b = r0; b < r1; b += kRowBlock) {
      std::fill(block.begin(), block.end(), 0.f);
      f(b, std::min(r1, b + kRowBlock), block.data());
      for (int64_t i = 0; i < C * nOut; i++) acc[i] += block[i];
    }
  }
  for (int64_t i = 0; i < C * nOut; i++) {
    double s = 0;
    for (int t = 0; t < T; t++) s += part[static_cast<size_t>(t) * C * nOut + i];
    out[i] = s;
  }
}

// bnStats(x, rows, C, mean, variance): biased variance, one pass.
Napi::Value BnStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t rows = info[1].As<Napi::Number>().Int64Value();
  int64_t C = info[2].As<Napi::Number>().Int64Value();
  if (rows < 1 || C < 1) throw Napi::RangeError::New(env, "bnStats: empty input");
  const float* x = f32(env, info[0], rows * C, "bnStats x");
  float* mean = f32(env, info[3], C, "bnStats mean");
  float* var = f32(env, info[4], C, "bnStats variance");
  // one pass: sums of (x - shift) and (x - shift)^2 in double, shift = first row (a sample of the
  // channel's values) so that the variance does not suffer from cancellation when |mean| >> std
  std::vector<double> sq(2 * C);
  std::vector<float> shift(x, x + C);
  const float* sh = shift.data();
  colSums(rows, C, sq.data(), 2, [&](int64_t r0, int64_t r1, float* __restrict acc) {
    float* __restrict acc2 = acc + C;
    for (int64_t r = r0; r < r1; r++) {
      const float* __restrict p = x + r * C;
      for (int64_t c = 0; c < C; c++) {
        float d = p[c] - sh[c];
        acc[c] += d;
        acc2[c] += d * d;
      }
    }
  });
  const double n = static_cast<double>(rows);
  for (int64_t c = 0; c < C; c++) {
    double m1 = sq[c] / n;
    double v = sq[C + c] / n - m1 * m1;
    mean[c] = static_cast<float>(sh[c] + m1);
    var[c] = static_cast<float>(v > 0 ? v : 0);
  }
  return env.Undefined();
}

// bnApply(x, rows, C, mean, variance, gamma, beta, eps, y, relu): y = (x - mean) / sqrt(var + eps) * gamma + beta
Napi::Value BnApply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t rows = info[1].As<Napi::Number>().Int64Value();
  int64_t C = info[2].As<Napi::Number>().Int64Value();
  const float* x = f32(env, info[0], rows * C, "bnApply x");
  const float* mean = f32(env, info[3], C, "bnApply mean");
  const float* var = f32(env, info[4], C, "bnApply variance");
  const float* gamma = f32(env, info[5], C, "bnApply gamma");
  const float* beta = f32(env, info[6], C, "bnApply beta");
  double eps = info[7].As<Napi::Number>().DoubleValue();
  float* y = f32(env, info[8], rows * C, "bnApply y");
  bool relu = info[9].IsBoolean() && info[9].As<Napi::Boolean>().Value();
  std::vector<float> a(C), b(C);
  for (int64_t c = 0; c < C; c++) {
    float inv = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[c]) + eps));
    a[c] = inv * gamma[c];
    b[c] = beta[c] - mean[c] * a[c];
  }
  const float* pa = a.data();
  const float* pb = b.data();
#pragma omp parallel for if (rows * C >= kParMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* p = x + r * C;
    float* o = y + r * C;
    if (relu) {
      for (int64_t c = 0; c < C; c++) {
        float v = p[c] * pa[c] + pb[c];
        o[c] = v > 0.f ? v : 0.f;
      }
    } else {
      for (int64_t c = 0; c < C; c++) o[c] = p[c] * pa[c] + pb[c];
    }
  }
  return env.Undefined();
}

// bnBackward(dy, x, rows, C, mean, variance, gamma, eps, dx, dgamma, dbeta, reluOut|null): with reluOut (the
// output of a fused BN+ReLU) the incoming gradient is masked by reluOut > 0 first.
Napi::Value BnBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t rows = info[2].As<Napi::Number>().Int64Value();
  int64_t C = info[3].As<Napi::Number>().Int64Value();
  const float* dy = f32(env, info[0], rows * C, "bnBackward dy");
  const float* x = f32(env, info[1], rows * C, "bnBackward x");
  const float* mean = f32(env, info[4], C, "bnBackward mean");
  const float* var = f32(env, info[5], C, "bnBackward variance");
  const float* gamma = f32(env, info[6], C, "bnBackward gamma");
  double eps = info[7].As<Napi::Number>().DoubleValue();
  float* dx = f32(env, info[8], rows * C, "bnBackward dx");
  float* dgamma = f32(env, info[9], C, "bnBackward dgamma");
  float* dbeta = f32(env, info[10], C, "bnBackward dbeta");
  const float* mask = (info.Length() > 11 && !info[11].IsNull() && !info[11].IsUndefined())
                          ? f32(env, info[11], rows * C, "bnBackward reluOut")
                          : nullptr;
  std::vector<float> inv(C);
  for (int64_t c = 0; c < C; c++) inv[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[c]) + eps));
  // sums[c] = sum dy, sums[C + c] = sum dy * (x - mean)
  std::vector<double> sums(2 * C);
  const float* pm = mean;
  colSums(rows, C, sums.data(), 2, [&](int64_t r0, int64_t r1, float* __restrict acc) {
    float* __restrict acc2 = acc + C;
    for (int64_t r = r0; r < r1; r++) {
      const float* __restrict g = dy + r * C;
      const float* __restrict p = x + r * C;
      if (mask) {
        const float* __restrict q = mask + r * C;
        for (int64_t c = 0; c < C; c++) {
          float gc = q[c] > 0.f ? g[c] : 0.f;  // branch-free select: the mask is random, a branch mispredicts
          acc[c] += gc;
          acc2[c] += gc * (p[c] - pm[c]);
        }
      } else {
        for (int64_t c = 0; c < C; c++) {
          acc[c] += g[c];
          acc2[c] += g[c] * (p[c] - pm[c]);
        }
      }
    }
  });
  std::vector<float> k1(C), k2(C), k3(C);
  const double M = static_cast<double>(rows);
  for (int64_t c = 0; c < C; c++) {
    double sdy = sums[c], sdyx = sums[C + c];
    double iv = inv[c];
    dbeta[c] = static_cast<float>(sdy);
    dgamma[c] = static_cast<float>(sdyx * iv);
    // dx = gamma*inv * (dy - sdy/M - (x-mean) * inv^2 * sdyx / M)
    double gi = static_cast<double>(gamma[c]) * iv;
    k1[c] = static_cast<float>(gi);
    k2[c] = static_cast<float>(gi * sdy / M);
    k3[c] = static_cast<float>(gi * iv * iv * sdyx / M);
  }
  const float* a1 = k1.data();
  const float* a2 = k2.data();
  const float* a3 = k3.data();
#pragma omp parallel for if (rows * C >= kParMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* g = dy + r * C;
    const float* p = x + r * C;
    float* o = dx + r * C;
    if (mask) {
      const float* q = mask + r * C;
      for (int64_t c = 0; c < C; c++) o[c] = a1[c] * (q[c] > 0.f ? g[c] : 0.f) - a2[c] - (p[c] - pm[c]) * a3[c];
    } else {
      for (int64_t c = 0; c < C; c++) o[c] = a1[c] * g[c] - a2[c] - (p[c] - pm[c]) * a3[c];
    }
  }
  return env.Undefined();
}

}  // namespace

void registerBatchNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("bnStats", Napi::Function::New(env, BnStats));
  exports.Set("bnApply", Napi::Function::New(env, BnApply));
  exports.Set("bnBackward", Napi::Function::New(env, BnBackward));
}

}  // namespace gradia
