// Fused ops for the `onednn` backend, for the model code to use when tf.getBackend() === 'onednn'
// (their kernels exist only there). Composite tfjs batch norm costs ~15 full passes over the
// activation (forward + autodiff backward); these take 3 forward and 2 backward.
import { tf } from '../tf.js';
import { loadAddon } from './addon.js';
import { GRADIA_BN_STATS, GRADIA_BN_APPLY, GRADIA_BN_BACKWARD, GRADIA_RELU_GRAD, GRADIA_ADD_RELU } from './kernels.js';

type T = tf.Tensor;

/** True when the fused ops can run: the active backend is `onednn`. */
export function onednnOpsActive(): boolean {
  return tf.getBackend() === 'onednn';
}

/**
 * Training-mode batch norm of NHWC `x` over all axes but the last (torch's BatchNorm2d in train mode):
 * y = (x - mean) / sqrt(variance + eps) * gamma + beta, differentiable w.r.t. x, gamma and beta.
 * Also returns the batch mean and the biased variance (no gradient) for the running statistics
 * (torch updates running_var with the unbiased one: variance * n / (n - 1)).
 * `relu: true` fuses a ReLU after it (forward and gradient), saving a pass each way.
 */
export function onednnBatchNormTrain<R extends tf.Rank>(x: tf.Tensor<R>, gamma: T, beta: T, eps: number, opts: { relu?: boolean } = {}):
  { y: tf.Tensor<R>; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const relu = Boolean(opts.relu);
  const [mean, variance] = tf.engine().runKernel(GRADIA_BN_STATS, { x }) as tf.Tensor1D[];
  const f = tf.customGrad(((xi: T, g: T, b: T, save: tf.GradSaveFunc) => {
    const y = tf.engine().runKernel(GRADIA_BN_APPLY, { x: xi, mean, variance, gamma: g, beta: b }, { eps, relu }) as T;
    save(relu ? [xi, g, mean, variance, y] : [xi, g, mean, variance]);
    return {
      value: y,
      gradFunc: (dy: T | T[], saved: T[]) => {
        const [sx, sg, sm, sv, sy] = saved;
        const inputs: Record<string, T> = { dy: dy as T, x: sx, mean: sm, variance: sv, gamma: sg };
        if (relu) inputs.reluOut = sy;
        return tf.engine().runKernel(GRADIA_BN_BACKWARD, inputs, { eps }) as T[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = (f as unknown as (a: T, b: T, c: T) => tf.Tensor<R>)(x, gamma, beta);
  return { y, mean, variance };
}

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

const addReluFn = tf.customGrad(((a: T, b: T, save: tf.GradSaveFunc) => {
  const y = tf.engine().runKernel(GRADIA_ADD_RELU, { a, b }) as T;
  save([y]);
  return {
    value: y,
    gradFunc: (dy: T | T[], saved: T[]) => {
      const g = tf.engine().runKernel(GRADIA_RELU_GRAD, { dy: dy as T, y: saved[0] }) as T;
      return [g, tf.clone(g)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: T, b: T) => T;

/** relu(a + b) for same-shape a, b (a ResNet block's residual join): one pass forward, one backward. */
export function onednnAddRelu<R extends tf.Rank>(a: tf.Tensor<R>, b: tf.Tensor<R>): tf.Tensor<R> {
  return addReluFn(a, b) as tf.Tensor<R>;
}

/**
 * Native version of src/model/adam.ts's adamStep (torch 1.13 single-tensor Adam, float32 rounding
 * at every operation): bit-identical results, multi-threaded. Needs only the addon, not the backend.
 */
export function onednnAdamStep(params: Float32Array, grads: Float32Array, state: { m: Float32Array; v: Float32Array; t: number },
  o: { lr: number; beta1: number; beta2: number; eps: number }): void {
  const loaded = loadAddon();
  if ('error' in loaded) throw new Error(loaded.error);
  const n = params.length;
  if (grads.length !== n || state.m.length !== n || state.v.length !== n) {
    throw new Error(`onednnAdamStep: length mismatch (params ${n}, grads ${grads.length}, m ${state.m.length}, v ${state.v.length})`);
  }
  const f = Math.fround;
  state.t += 1;
  const bc1 = 1 - o.beta1 ** state.t;
  const bc2 = 1 - o.beta2 ** state.t;
  loaded.addon.adamStep(params, grads, state.m, state.v, n, f(o.lr / bc1), f(Math.sqrt(bc2)), f(o.beta1), f(o.beta2),
    f(1 - o.beta1), f(1 - o.beta2), f(o.eps));
}
