// Fused ops for the `onednn` backend, for the model code to use when tf.getBackend() === 'onednn'
// (their kernels exist only there). Composite tfjs batch norm costs ~15 full passes over the
// activation (forward + autodiff backward); these take 3 forward and 2 backward.
import { tf } from '../tf.js';
import { GRADIA_BN_STATS, GRADIA_BN_APPLY, GRADIA_BN_BACKWARD, GRADIA_RELU_GRAD } from './kernels.js';

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
 */
export function onednnBatchNormTrain<R extends tf.Rank>(x: tf.Tensor<R>, gamma: T, beta: T, eps: number):
  { y: tf.Tensor<R>; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const [mean, variance] = tf.engine().runKernel(GRADIA_BN_STATS, { x }) as tf.Tensor1D[];
  const f = tf.customGrad(((xi: T, g: T, b: T, save: tf.GradSaveFunc) => {
    save([xi, g, mean, variance]);
    const y = tf.engine().runKernel(GRADIA_BN_APPLY, { x: xi, mean, variance, gamma: g, beta: b }, { eps }) as T;
    return {
      value: y,
      gradFunc: (dy: T | T[], saved: T[]) => {
        const [sx, sg, sm, sv] = saved;
        return tf.engine().runKernel(GRADIA_BN_BACKWARD, { dy: dy as T, x: sx, mean: sm, variance: sv, gamma: sg }, { eps }) as T[];
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
