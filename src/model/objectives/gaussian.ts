// Gaussian: mean |c - g| with g = y+ blurred by OpenCV's 3x3 Gaussian (sigma 0: the
// tabulated kernel [1/4, 1/2, 1/4], BORDER_REFLECT_101, float32) and divided by its
// max + 1e-6, as RES computes it per sample.
import { tf } from '../../backend/tf.js';
import { reflect101 } from '../../data/attention_target.js';
import { meanAbs, positivePart } from './terms.js';
import type { Objective, ObjectiveBatch } from './types.js';

const f = Math.fround;

/** cv2.GaussianBlur(y, (3, 3), 0) of one float32 g x g map, then / (max + 1e-6). */
export function gaussianTarget(y: Float32Array, g: number): Float32Array {
  const row = new Float32Array(g * g);
  for (let r = 0; r < g; r++) {
    for (let x = 0; x < g; x++) {
      const o = r * g;
      row[o + x] = f(f(y[o + x]! * 0.5) + f(f(y[o + reflect101(x - 1, g)]! + y[o + reflect101(x + 1, g)]!) * 0.25));
    }
  }
  const out = new Float32Array(g * g);
  let max = -Infinity;
  for (let r = 0; r < g; r++) {
    const up = reflect101(r - 1, g) * g;
    const dn = reflect101(r + 1, g) * g;
    for (let x = 0; x < g; x++) {
      const v = f(f(row[r * g + x]! * 0.5) + f(f(row[up + x]! + row[dn + x]!) * 0.25));
      out[r * g + x] = v;
      if (v > max) max = v;
    }
  }
  const den = max + 1e-6;
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / den;
  return out;
}

/** The Gaussian targets of a batch (n*G*G), from y+. */
export function gaussianTargets(target: Float32Array, n: number, g: number): Float32Array {
  const pos = positivePart(target);
  const out = new Float32Array(n * g * g);
  for (let i = 0; i < n; i++) out.set(gaussianTarget(pos.subarray(i * g * g, (i + 1) * g * g), g), i * g * g);
  return out;
}

/** The Gaussian term alone (also RES-G's second term). */
export function gaussianTerm(b: ObjectiveBatch): tf.Tensor1D {
  return meanAbs(b.cam, tf.tensor3d(gaussianTargets(b.target, b.n, b.grid), [b.n, b.grid, b.grid]));
}

export const gaussianObjective: Objective = {
  name: 'gaussian',
  robust: false,
  needsMasks: false,
  perSample: gaussianTerm,
};
