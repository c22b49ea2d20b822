// Standalone check of libdnnl itself (no addon, no Node): one NHWC convolution (forward 'f',
// backward-data 'd' or backward-weights 'w') with a user-managed scratchpad and user buffers, each
// followed by a canary zone; prints how many bytes the primitive wrote past each end (exit 1 if any).
// With Debian's libdnnl 2.6.3 on AVX-512, `w 3 8 24 8 16 1 2 0` (tiny18's layer2 downsample at
// 96 px, batch 8, 3 threads) writes ~1.5 KB past its scratchpad: the bug the addon works around in
// Conv2dBwdWeights (issue #11). Re-run it when libdnnl changes; DNNL_MAX_CPU_ISA=AVX2 checks AVX2.
//
//   g++ -O1 -std=c++17 -fopenmp onednn_rtus_check.cc -ldnnl -o /tmp/onednn_rtus_check
//   /tmp/onednn_rtus_check OP THREADS N H IC OC K STRIDE PAD
#include <dnnl.hpp>
#include <omp.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
using namespace dnnl;
using tag = memory::format_tag; using dt = memory::data_type;
struct Guarded { std::vector<unsigned char> b; size_t n; Guarded(size_t n_, unsigned char fill) : b(n_ + 65536, 0xAB), n(n_) { memset(b.data(), fill, n); }
  size_t over() const { size_t l = 0; for (size_t i = n; i < b.size(); i++) if (b[i] != 0xAB) l = i - n + 1; return l; } };
int main(int argc, char** argv) {
  if (argc != 10) {
    fprintf(stderr, "usage: %s f|d|w THREADS N H IC OC K STRIDE PAD\n", argv[0]);
    return 2;
  }
  char op = argv[1][0]; int T = atoi(argv[2]), N = atoi(argv[3]), H = atoi(argv[4]), IC = atoi(argv[5]), OC = atoi(argv[6]),
      K = atoi(argv[7]), S = atoi(argv[8]), P = atoi(argv[9]);
  omp_set_num_threads(T);
  int OH = (H + 2 * P - K) / S + 1; int PR = (OH - 1) * S + K - H - P; if (PR < 0) PR = 0;
  engine eng(engine::kind::cpu, 0); stream s(eng);
  memory::desc src({N, IC, H, H}, dt::f32, tag::nhwc), dst({N, OC, OH, OH}, dt::f32, tag::nhwc),
      w({OC, IC, K, K}, dt::f32, tag::any);
  memory::dims st{S, S}, pl{P, P}, pr{PR, PR};
  convolution_forward::desc fd(prop_kind::forward_training, algorithm::convolution_direct, src, w, dst, st, pl, pr);
  primitive_attr attr; attr.set_scratchpad_mode(scratchpad_mode::user);
  convolution_forward::primitive_desc fpd0(fd, eng);
  primitive p; memory::desc spd, wd; const char* impl;
  if (op == 'f') { convolution_forward::primitive_desc pd(fd, attr, eng); p = convolution_forward(pd); spd = pd.scratchpad_desc(); wd = pd.weights_desc(); impl = strdup(pd.impl_info_str()); }
  else if (op == 'd') { convolution_backward_data::desc bd(algorithm::convolution_direct, src, w, dst, st, pl, pr);
    convolution_backward_data::primitive_desc pd(bd, attr, eng, fpd0); p = convolution_backward_data(pd); spd = pd.scratchpad_desc(); wd = pd.weights_desc(); impl = strdup(pd.impl_info_str()); }
  else { convolution_backward_weights::desc bd(algorithm::convolution_direct, src, w, dst, st, pl, pr);
    convolution_backward_weights::primitive_desc pd(bd, attr, eng, fpd0); p = convolution_backward_weights(pd); spd = pd.scratchpad_desc(); wd = pd.diff_weights_desc(); impl = strdup(pd.impl_info_str()); }
  Guarded sp(spd.get_size(), 0), xb(src.get_size(), 0x3f), yb(dst.get_size(), 0x3f), wb(wd.get_size(), 0x3c);
  memory spm(spd, eng, sp.b.data()), xm(src, eng, xb.b.data()), ym(dst, eng, yb.b.data()), wm(wd, eng, wb.b.data());
  for (int r = 0; r < 3; r++) {
    if (op == 'f') p.execute(s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}, {DNNL_ARG_SCRATCHPAD, spm}});
    else if (op == 'd') p.execute(s, {{DNNL_ARG_DIFF_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_DST, ym}, {DNNL_ARG_SCRATCHPAD, spm}});
    else p.execute(s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_WEIGHTS, wm}, {DNNL_ARG_DIFF_DST, ym}, {DNNL_ARG_SCRATCHPAD, spm}});
    s.wait();
  }
  size_t o = sp.over() + xb.over() + yb.over() + wb.over();
  printf("%s %c T=%d N=%d H=%d IC=%d OC=%d K=%d S=%d P=%d %s over: scratch %zu x %zu y %zu w %zu\n", o ? "BAD" : "ok", op, T, N, H, IC, OC, K, S, P, impl,
         sp.over(), xb.over(), yb.over(), wb.over());
  return o ? 1 : 0;
}
