// torch.optim.Adam (no weight decay, no amsgrad) as a plain JS loop over flat
// Float32Arrays, rounding to float32 after every operation (Math.fround), so the update
// is the same bit for bit on every replica and every backend.
import { adamScalars, adamUpdate, adamUpdateJs, type AdamKernelArgs } from '../backend/fused/index.js';

export interface AdamOptions { lr: number; beta1: number; beta2: number; eps: number }
export const ADAM_DEFAULTS: AdamOptions = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

export interface AdamState { m: Float32Array; v: Float32Array; t: number }

export function createAdamState(n: number): AdamState {
  return { m: new Float32Array(n), v: new Float32Array(n), t: 0 };
}

/** Checks the lengths, advances t and returns the update's arguments. */
function stepArgs(params: Float32Array, grads: Float32Array, state: AdamState, options: Partial<AdamOptions>): AdamKernelArgs {
  const o = { ...ADAM_DEFAULTS, ...options };
  const n = params.length;
  if (grads.length !== n || state.m.length !== n || state.v.length !== n) throw new Error(`adamStep: length mismatch (params ${n}, grads ${grads.length}, m ${state.m.length}, v ${state.v.length})`);
  state.t += 1;
  return { params, grads, m: state.m, v: state.v, s: adamScalars(o, state.t) };
}

/**
 * One Adam step in place on `params` (torch 1.13 single-tensor algorithm): the active backend's
 * GradiaAdam kernel where it has one (onednn: bit-identical to adamStepJs, about 4x faster), else JS.
 */
export function adamStep(params: Float32Array, grads: Float32Array, state: AdamState, options: Partial<AdamOptions> = {}): void {
  adamUpdate(stepArgs(params, grads, state, options));
}

/** One Adam step in place on `params`, always in JS. */
export function adamStepJs(params: Float32Array, grads: Float32Array, state: AdamState, options: Partial<AdamOptions> = {}): void {
  adamUpdateJs(stepArgs(params, grads, state, options));
}
