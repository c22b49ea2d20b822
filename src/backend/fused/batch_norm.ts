// Training-mode batch norm of NHWC x over all axes but the last (torch's BatchNorm2d in train mode),
// optionally followed by ReLU: the Gradia BN kernels where the active backend registers them
// (3 passes forward, 2 backward), else plain tfjs ops with a hand-written gradient. Both hand the
// batch mean and unbiased variance to `sink` for the running statistics (none: a recomputed forward).
import { tf } from '../tf.js';
import { GRADIA_BN_STATS, GRADIA_BN_APPLY, GRADIA_BN_BACKWARD } from '../kernel_names.js';
import { hasKernel } from './dispatch.js';

type T = tf.Tensor;
export type StatsSink = (mean: tf.Tensor1D, unbiasedVar: tf.Tensor1D) => void;

/** y = relu?((x - mean) / sqrt(var + eps) * gamma + beta) with batch statistics; differentiable w.r.t. x, gamma, beta. */
export function batchNormTrain(x: tf.Tensor4D, gamma: T, beta: T, eps: number, relu: boolean, sink: StatsSink | null): tf.Tensor4D {
  if (hasKernel(GRADIA_BN_APPLY)) {
    const r = kernelBatchNormTrain(x, gamma, beta, eps, { relu });
    const cnt = x.size / x.shape[3];
    if (sink) sink(r.mean, cnt > 1 ? tf.mul(r.variance, cnt / (cnt - 1)) : r.variance);
    return r.y;
  }
  const y = compositeBatchNormTrain(x, gamma, beta, eps, sink);
  return relu ? tf.relu(y) : y;
}

/**
 * The Gradia kernels' batch norm (backend must register them): returns y and the batch mean and
 * biased variance (no gradient). Its gradient is GradiaBnBackward through tf.customGrad rather
 * than a kernel gradient config: mean and variance are kernel outputs that feed GradiaBnApply, so
 * the tape would otherwise need gradients for them and for GradiaBnStats, which the backward
 * kernel already accounts for (it differentiates statistics and apply together).
 */
export function kernelBatchNormTrain<R extends tf.Rank>(x: tf.Tensor<R>, gamma: T, beta: T, eps: number, opts: { relu?: boolean } = {}):
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

/**
 * Per-channel sum of an NHWC tensor in two levels (over W, then over N*H), which keeps
 * float32 rounding error near sqrt(count) * eps instead of count * eps.
 */
export function channelSum(t: tf.Tensor4D): tf.Tensor1D {
  const [n, h, w, c] = t.shape;
  return tf.sum(tf.sum(tf.reshape(t, [n * h, w, c]), 1), 0) as tf.Tensor1D;
}

/**
 * Batch norm in tfjs ops with a hand-written gradient:
 *   y = xhat * gamma + beta, xhat = (x - mean) / sqrt(var + eps) (biased var)
 *   dbeta = sum dy, dgamma = sum dy * xhat,
 *   dx = gamma / sqrt(var + eps) * (dy - dbeta / n - xhat * dgamma / n)
 * Only xhat and the per-channel scale are kept for the backward pass; all channel sums
 * are two-level (channelSum).
 */
export function compositeBatchNormTrain(x: tf.Tensor4D, gamma: T, beta: T, eps: number, sink: StatsSink | null): tf.Tensor4D {
  const fn = (xi: T, g: T, b: T, save: tf.GradSaveFunc) => {
    const x4 = xi as tf.Tensor4D;
    const [n, h, w] = x4.shape;
    const count = n * h * w;
    const mean = tf.div(channelSum(x4), count) as tf.Tensor1D;
    const xc = tf.sub(x4, mean) as tf.Tensor4D;
    const variance = tf.div(channelSum(tf.square(xc) as tf.Tensor4D), count) as tf.Tensor1D;
    const r = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(xc, r) as tf.Tensor4D;
    if (sink) sink(mean, (count > 1 ? tf.mul(variance, count / (count - 1)) : variance) as tf.Tensor1D);
    const scale = tf.mul(r, g);
    save([xhat, scale]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy: T | T[], saved: T[]) => {
        const d = dy as tf.Tensor4D;
        const [sxhat, sscale] = saved as [tf.Tensor4D, tf.Tensor1D];
        const dbeta = channelSum(d);
        const dgamma = channelSum(tf.mul(d, sxhat) as tf.Tensor4D);
        const dx = tf.mul(tf.sub(tf.sub(d, tf.div(dbeta, count)), tf.mul(sxhat, tf.div(dgamma, count))), sscale);
        return [dx, dgamma, dbeta];
      },
    };
  };
  const f = tf.customGrad(fn as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: T, b: T, c: T) => tf.Tensor4D;
  return f(x, gamma, beta);
}
