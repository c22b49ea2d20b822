// GRADIA: mean |c - y+| over the grid (the loss gradia-dist always had). On GRADIA's
// targets (all >= 0) y+ is y itself and the ops are those of attentionL1: bit for bit the
// same loss and gradient.
import { tf } from '../../backend/tf.js';
import { meanAbs, positivePart } from './terms.js';
import type { Objective, ObjectiveBatch } from './types.js';

function hasNegative(y: Float32Array): boolean {
  for (let i = 0; i < y.length; i++) if (y[i]! < 0) return true;
  return false;
}

export const gradiaObjective: Objective = {
  name: 'gradia',
  robust: false,
  needsMasks: false,
  perSample(b: ObjectiveBatch): tf.Tensor1D {
    const y = hasNegative(b.target) ? positivePart(b.target) : b.target;
    return meanAbs(b.cam, tf.tensor3d(y, [b.n, b.grid, b.grid]));
  },
};
