// RES-G: the robust alignment term (robust.ts) plus the Gaussian term (gaussian.ts), as
// RES's --transforms Gaussian computes them.
import { tf } from '../../backend/tf.js';
import { gaussianTerm } from './gaussian.js';
import { robustTerm } from './robust.js';
import type { Objective, ObjectiveBatch } from './types.js';

export const resGObjective: Objective = {
  name: 'res-g',
  robust: true,
  needsMasks: false,
  perSample(b: ObjectiveBatch): tf.Tensor1D {
    return tf.add(robustTerm(b), gaussianTerm(b)) as tf.Tensor1D;
  },
};
