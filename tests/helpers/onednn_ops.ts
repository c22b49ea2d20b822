// The onednn backend's fused ops under their own names, for tests that call the
// native kernels directly. Model code uses the backend-neutral versions in src/backend/fused/,
// which pick these kernels whenever the active backend registers them.
import { tf } from '../../src/backend/tf.js';
import { GRADIA_RELU_GRAD, GRADIA_ADD_RELU } from '../../src/backend/kernel_names.js';
import { kernelBatchNormTrain, adamScalars, type AdamHyper } from '../../src/backend/fused/index.js';
import { ONEDNN_BACKEND } from '../../src/backend/onednn/kernels/shared.js';
import { loadAddon } from '../../src/backend/onednn/addon.js';

type T = tf.Tensor;

/** True when the fused ops run natively: the active backend is `onednn`. */
export function onednnOpsActive(): boolean {
  return tf.getBackend() === ONEDNN_BACKEND;
}

/**
 * Training-mode batch norm on the Gradia kernels (src/backend/fused/batch_norm.ts): y plus the
 * batch mean and biased variance. `relu: true` fuses a ReLU after it.
 */
export const onednnBatchNormTrain = kernelBatchNormTrain;

const reluFn = tf.customGrad(((x: T, save: tf.GradSaveFunc) => {
  const y = tf.relu(x);
  save([y]);
  return {
    value: y,
    gradFunc: (dy: T | T[], saved: T[]) => tf.engine().runKernel(GRADIA_RELU_GRAD, { dy: dy as T, y: saved[0] }) as T,
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: T) => T;

/** ReLU whose gradient is one native pass (tfjs's is step + cast + multiply). */
export function onednnRelu<R extends tf.Rank>(x: tf.Tensor<R>): tf.Tensor<R> {
  return reluFn(x) as tf.Tensor<R>;
}

/** relu(a + b) on the GradiaAddRelu kernel (and its registered gradient). */
export function onednnAddRelu<R extends tf.Rank>(a: tf.Tensor<R>, b: tf.Tensor<R>): tf.Tensor<R> {
  return tf.engine().runKernel(GRADIA_ADD_RELU, { a, b }) as tf.Tensor<R>;
}

/**
 * The addon's Adam step (src/model/adam.ts's adamStep, bit-identical, multi-threaded). Needs only
 * the addon, not the backend.
 */
export function onednnAdamStep(params: Float32Array, grads: Float32Array, state: { m: Float32Array; v: Float32Array; t: number }, o: AdamHyper): void {
  const loaded = loadAddon();
  if ('error' in loaded) throw new Error(loaded.error);
  const n = params.length;
  if (grads.length !== n || state.m.length !== n || state.v.length !== n) {
    throw new Error(`onednnAdamStep: length mismatch (params ${n}, grads ${grads.length}, m ${state.m.length}, v ${state.v.length})`);
  }
  state.t += 1;
  const s = adamScalars(o, state.t);
  loaded.addon.adamStep(params, grads, state.m, state.v, n, s.stepSize, s.bc2Sqrt, s.b1, s.b2, s.a1, s.a2, s.eps);
}
