// Adam's update as a fused op over flat vectors: the active backend's GradiaAdam vector kernel
// (onednn: the addon's multi-threaded loop) or the same float32 arithmetic in JS.
import { GRADIA_ADAM } from '../kernel_names.js';
import { runVectorKernel } from '../vector_kernels.js';

export interface AdamHyper { lr: number; beta1: number; beta2: number; eps: number }

/** The step's scalars, each rounded to float32 as torch uses them (bias corrections computed in double). */
export interface AdamScalars { stepSize: number; bc2Sqrt: number; b1: number; b2: number; a1: number; a2: number; eps: number }

export interface AdamKernelArgs { params: Float32Array; grads: Float32Array; m: Float32Array; v: Float32Array; s: AdamScalars }

/** torch 1.13 single-tensor Adam's scalars for step t (1-based). */
export function adamScalars(o: AdamHyper, t: number): AdamScalars {
  const f = Math.fround;
  // torch computes the bias corrections in double precision, then uses them as scalars
  const bc1 = 1 - o.beta1 ** t;
  const bc2 = 1 - o.beta2 ** t;
  return { stepSize: f(o.lr / bc1), bc2Sqrt: f(Math.sqrt(bc2)), b1: f(o.beta1), b2: f(o.beta2), a1: f(1 - o.beta1), a2: f(1 - o.beta2), eps: f(o.eps) };
}

/** The update in JS, rounding to float32 after every operation (Math.fround). */
export function adamUpdateJs({ params, grads, m, v, s }: AdamKernelArgs): void {
  const f = Math.fround;
  const { stepSize, bc2Sqrt, b1, b2, a1, a2, eps } = s;
  for (let i = 0; i < params.length; i++) {
    const g = grads[i];
    const mi = f(f(m[i] * b1) + f(g * a1));
    const vi = f(f(v[i] * b2) + f(f(g * g) * a2));
    m[i] = mi;
    v[i] = vi;
    const denom = f(f(f(Math.sqrt(vi)) / bc2Sqrt) + eps);
    params[i] = f(params[i] - f(f(mi / denom) * stepSize));
  }
}

/** One update in place: the active backend's GradiaAdam kernel, else adamUpdateJs (bit-identical). */
export function adamUpdate(args: AdamKernelArgs): void {
  runVectorKernel(GRADIA_ADAM, args, adamUpdateJs);
}
