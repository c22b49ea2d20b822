// Shared pieces of the objectives: y+ = max(y, 0), the labelled mask m = (y != 0), and the
// per-sample mean over the grid.
import { tf } from '../../backend/tf.js';

/** max(y, 0) elementwise (a copy; y itself is left alone). */
export function positivePart(y: Float32Array): Float32Array {
  const out = new Float32Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = y[i]! > 0 ? y[i]! : 0;
  return out;
}

/** 1 where y != 0 (a labelled pixel, positive or negative), else 0. */
export function labelledMask(y: Float32Array): Float32Array {
  const out = new Float32Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = y[i] !== 0 ? 1 : 0;
  return out;
}

/** Per-sample mean over the grid of an [n, G, G] tensor. */
export function gridMean(t: tf.Tensor3D): tf.Tensor1D {
  return tf.mean(t, [1, 2]) as tf.Tensor1D;
}

/** Per-sample mean |a - b| over the grid. */
export function meanAbs(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor1D {
  return gridMean(tf.abs(tf.sub(a, b)) as tf.Tensor3D);
}
