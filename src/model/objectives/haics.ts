// HAICS: binary cross-entropy between c and y+ on the labelled pixels only (m = y != 0),
// averaged over the grid. c is min-max normalised, so it is exactly 0 and 1 somewhere in
// every map, where log(c) or log(1 - c) is -inf: c is clamped to [eps, 1 - eps] first
// (no gradient beyond), instead of torch's log clamp at -100, whose gradient there is
// (c - y) / 1e-12 (see docs/objectives.md).
import { tf } from '../../backend/tf.js';
import { gridMean, labelledMask, positivePart } from './terms.js';
import type { Objective, ObjectiveBatch } from './types.js';

export const BCE_EPS = 1e-7;

export const haicsObjective: Objective = {
  name: 'haics',
  robust: false,
  needsMasks: false,
  perSample(b: ObjectiveBatch): tf.Tensor1D {
    const shape: [number, number, number] = [b.n, b.grid, b.grid];
    const y = tf.tensor3d(positivePart(b.target), shape);
    const m = tf.tensor3d(labelledMask(b.target), shape);
    const c = tf.clipByValue(b.cam, BCE_EPS, 1 - BCE_EPS);
    // -(y log c + (1 - y) log(1 - c))
    const bce = tf.neg(tf.add(tf.mul(y, tf.log(c)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, c)))));
    return gridMean(tf.mul(bce, m) as tf.Tensor3D);
  },
};
