// Grad-CAM on the layer4 output A [N, G, G, C]:
//   cam_i = sum_k w_ik A_ik, w_ik = mean over space of d logit[i, target_i] / d A_ik,
// with w held constant (no gradient flows through it); cam stays differentiable in A.
import { tf } from '../backend/tf.js';
import { stopGradient } from './conv.js';
import { head } from './resnet.js';
import type { CamMode, Model } from './types.js';

/** cam[n, g, g] = sum_k A[n, g, g, k] * w[n, k]. */
export function weightedSum(feats: tf.Tensor4D, w: tf.Tensor2D): tf.Tensor3D {
  const [n, , , c] = feats.shape;
  return tf.sum(tf.mul(feats, tf.reshape(w, [n, 1, 1, c])), 3) as tf.Tensor3D;
}

/**
 * Closed form for the global-average-pool + linear head: the gradient of logit[target]
 * w.r.t. A is fc.weight[:, target] / (G*G) at every position (fc.weight is [C, classes]
 * in memory). `onehot` [N, classes] selects the target class of each sample.
 */
export function gradCamClosed(model: Model, feats: tf.Tensor4D, onehot: tf.Tensor2D): tf.Tensor3D {
  const [, gh, gw] = feats.shape;
  const fcW = model.params.get('fc.weight')! as unknown as tf.Tensor2D;
  const w = stopGradient(tf.div(tf.matMul(onehot, fcW, false, true), gh * gw) as tf.Tensor2D); // [N, C]
  return weightedSum(feats, w);
}

/**
 * General path: the gradient of sum_i logit[i, target_i] w.r.t. A by autodiff through
 * `headFn` (any head), averaged over space and held constant.
 */
export function gradCamAutodiff(feats: tf.Tensor4D, onehot: tf.Tensor2D, headFn: (a: tf.Tensor4D) => tf.Tensor2D): tf.Tensor3D {
  const a0 = stopGradient(feats);
  const dA = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(headFn(a as tf.Tensor4D), onehot)))(a0) as tf.Tensor4D;
  const w = stopGradient(tf.mean(dA, [1, 2]) as tf.Tensor2D);
  return weightedSum(feats, w);
}

/** Grad-CAM of the model for the classes selected by `onehot`. */
export function gradCam(model: Model, feats: tf.Tensor4D, onehot: tf.Tensor2D, mode: CamMode): tf.Tensor3D {
  return mode === 'closed' ? gradCamClosed(model, feats, onehot) : gradCamAutodiff(feats, onehot, (a) => head(model, a));
}

const maskFn = (x: tf.Tensor, _save: tf.GradSaveFunc) => ({
  value: tf.cast(tf.greater(x, 0), 'float32'),
  gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.zerosLike(dy as tf.Tensor),
});
/** 1 where x > 0 else 0, with zero gradient (Greater has no registered gradient). */
const positiveMask = tf.customGrad(maskFn as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

/**
 * Min-max normalisation per sample over the grid: (cam - min) / (max - min). The
 * original divides by max after subtracting min, which is the same thing. A constant cam
 * (max == min) would divide 0 by 0: there the denominator is replaced by 1, so the
 * normalised map is all zeros and its gradient finite (no NaN).
 */
export function minMaxNormalise(cam: tf.Tensor3D): tf.Tensor3D {
  const mn = tf.min(cam, [1, 2], true);
  const mx = tf.max(cam, [1, 2], true);
  const range = tf.sub(mx, mn);
  const safe = tf.add(range, tf.sub(1, positiveMask(range))); // range, or 1 where range == 0
  return tf.div(tf.sub(cam, mn), safe) as tf.Tensor3D;
}
