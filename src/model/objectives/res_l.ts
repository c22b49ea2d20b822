// RES-L: the robust alignment term plus mean |c - h|, h the imputation network's map of the
// full-resolution positive mask (min-max normalised), plus reg * mean((h - y+)^2). The
// network trains with the classifier: h is differentiable in its variables.
import { tf } from '../../backend/tf.js';
import { minMaxNormalise } from '../gradcam.js';
import { imputationForward } from './imputation.js';
import { robustTerm } from './robust.js';
import { gridMean, meanAbs, positivePart } from './terms.js';
import type { Objective, ObjectiveBatch } from './types.js';

/** h, normalised per sample [n, G, G]. */
export function imputedTarget(b: ObjectiveBatch): tf.Tensor3D {
  if (!b.imputation || !b.masks) throw new Error('objective res-l: needs the imputation network and the full-resolution masks');
  const h = imputationForward(b.imputation, b.masks, b.images);
  if (h.shape[1] !== b.grid) throw new Error(`imputation ${b.imputation.kind}: output ${h.shape[1]}x${h.shape[2]}, the grid is ${b.grid}x${b.grid}`);
  return minMaxNormalise(h);
}

export const resLObjective: Objective = {
  name: 'res-l',
  robust: true,
  needsMasks: true,
  perSample(b: ObjectiveBatch): tf.Tensor1D {
    const h = imputedTarget(b);
    let loss = tf.add(robustTerm(b), meanAbs(b.cam, h)) as tf.Tensor1D;
    const reg = b.settings.imputationReg;
    if (reg !== 0) {
      const yPos = tf.tensor3d(positivePart(b.target), [b.n, b.grid, b.grid]);
      loss = tf.add(loss, tf.mul(gridMean(tf.square(tf.sub(h, yPos)) as tf.Tensor3D), reg)) as tf.Tensor1D;
    }
    return loss;
  },
};
