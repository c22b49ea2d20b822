// torch.optim.Adam (no weight decay, no amsgrad) as a plain JS loop over flat
// Float32Arrays, rounding to float32 after every operation (Math.fround), so the update
// is the same bit for bit on every replica and every backend.
import { onednnAdamStep, onednnOpsActive } from '../backend/onednn/ops.js';

export interface AdamOptions { lr: number; beta1: number; beta2: number; eps: number }
export const ADAM_DEFAULTS: AdamOptions = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

export interface AdamState { m: Float32Array; v: Float32Array; t: number }

export function createAdamState(n: number): AdamState {
  return { m: new Float32Array(n), v: new Float32Array(n), t: 0 };
}

/**
 * One Adam step in place on `params`: the oneDNN addon's kernel when that backend is active
 * (bit-identical to adamStepJs, about 4x faster), else the JS loop.
 */
export function adamStep(params: Float32Array, grads: Float32Array, state: AdamState, options: Partial<AdamOptions> = {}): void {
  if (onednnOpsActive()) onednnAdamStep(params, grads, state, { ...ADAM_DEFAULTS, ...options });
  else adamStepJs(params, grads, state, options);
}

/** One Adam step in place on `params` (torch 1.13 single-tensor algorithm), in JS. */
export function adamStepJs(params: Float32Array, grads: Float32Array, state: AdamState, options: Partial<AdamOptions> = {}): void {
  const o = { ...ADAM_DEFAULTS, ...options };
  const n = params.length;
  if (grads.length !== n || state.m.length !== n || state.v.length !== n) throw new Error(`adamStep: length mismatch (params ${n}, grads ${grads.length}, m ${state.m.length}, v ${state.v.length})`);
  const f = Math.fround;
  state.t += 1;
  const t = state.t;
  // torch computes the bias corrections in double precision, then uses them as scalars
  const bc1 = 1 - o.beta1 ** t;
  const bc2 = 1 - o.beta2 ** t;
  const stepSize = f(o.lr / bc1);
  const bc2Sqrt = f(Math.sqrt(bc2));
  const b1 = f(o.beta1);
  const b2 = f(o.beta2);
  const a1 = f(1 - o.beta1);
  const a2 = f(1 - o.beta2);
  const eps = f(o.eps);
  const { m, v } = state;
  for (let i = 0; i < n; i++) {
    const g = grads[i];
    const mi = f(f(m[i] * b1) + f(g * a1));
    const vi = f(f(v[i] * b2) + f(f(g * g) * a2));
    m[i] = mi;
    v[i] = vi;
    const denom = f(f(f(Math.sqrt(vi)) / bc2Sqrt) + eps);
    params[i] = f(params[i] - f(f(mi / denom) * stepSize));
  }
}
