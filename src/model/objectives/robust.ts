// RES's robust alignment term, split so that any number of replicas computes the same
// gradient as one:
//   R = relu( sum_i w_i sum_p m_ip |tanh(5 (c_ip - a)) - y_ip| / Npix  -  eta )
// over the GLOBAL batch's attention samples (RES: w_i = 1, one batch on one GPU), with the
// threshold a from RES's solver (threshold.ts) and Npix the labelled pixels. a, the relu's
// gate and Npix are fixed before the loss from every replica's (c, y) (robustConstants, fed
// by the all-gather in src/worker/robust_pass.ts); the term is then a sum of per-sample
// parts: sample i contributes gate * (pixelScale * sum_p m |t - y| - eta), pixelScale =
// globalAttCount / Npix, and losses.ts's sum_i w_i (...) / globalAttCount gives R.
import { tf } from '../../backend/tf.js';
import { labelledMask } from './terms.js';
import { robustThreshold } from './threshold.js';
import type { ObjectiveBatch, RobustConstants } from './types.js';

/** RES's surrogate sharpness: t = tanh(5 (c - a)). */
export const TANH_SCALE = 5;

/**
 * One attention sample as the replicas exchange it: its index in the training set (the
 * canonical order of the global batch, so that any sharding gives RES's tie rule the same
 * order), its attention weight, its normalised cam and its label on the grid.
 */
export interface RobustRecord {
  index: number;
  weight: number;
  cam: Float32Array;
  label: Float32Array;
}

/** Floats per record in the exchanged vector: index, weight, cam (G*G), label (G*G). */
export const recordLength = (grid: number): number => 2 + 2 * grid * grid;

export function packRecords(records: RobustRecord[], grid: number, out: Float32Array, offset: number): void {
  const gg = grid * grid;
  let o = offset;
  for (const r of records) {
    out[o] = r.index;
    out[o + 1] = r.weight;
    out.set(r.cam, o + 2);
    out.set(r.label, o + 2 + gg);
    o += recordLength(grid);
  }
}

export function unpackRecords(vec: Float32Array, grid: number, count: number): RobustRecord[] {
  const gg = grid * grid;
  const len = recordLength(grid);
  const out: RobustRecord[] = [];
  for (let k = 0; k < count; k++) {
    const o = k * len;
    out.push({ index: vec[o]!, weight: vec[o + 1]!, cam: vec.subarray(o + 2, o + 2 + gg), label: vec.subarray(o + 2 + gg, o + 2 + 2 * gg) });
  }
  return out;
}

/**
 * The constants of a global batch from all its attention samples (any order: they are
 * put in training-set order here). `globalAttCount` is the loss's normaliser.
 */
export function robustConstants(records: RobustRecord[], globalAttCount: number, eta: number): RobustConstants {
  const sorted = [...records].sort((p, q) => p.index - q.index);
  let total = 0;
  for (const r of sorted) total += r.cam.length;
  const cams = new Float32Array(total);
  const labels = new Float32Array(total);
  let o = 0;
  for (const r of sorted) { cams.set(r.cam, o); labels.set(r.label, o); o += r.cam.length; }
  const threshold = robustThreshold(cams, labels); // a float32 value (0 or one of its candidates)
  let npix = 0;
  let weighted = 0;
  for (const r of sorted) {
    let s = 0;
    for (let p = 0; p < r.cam.length; p++) {
      const y = r.label[p]!;
      if (y === 0) continue;
      npix++;
      s += Math.abs(Math.tanh(TANH_SCALE * (r.cam[p]! - threshold)) - y);
    }
    weighted += r.weight * s;
  }
  if (npix === 0) return { threshold, gate: 0, pixelScale: 0, eta };
  // relu(x - eta): torch's relu passes no gradient at exactly 0
  const gate: 0 | 1 = weighted / npix - eta > 0 ? 1 : 0;
  return { threshold, gate, pixelScale: globalAttCount / npix, eta };
}

/** Per-sample part of R (see the top of the file); zeros when the gate is shut. */
export function robustTerm(b: ObjectiveBatch): tf.Tensor1D {
  const k = b.robust;
  if (!k) throw new Error(`objective ${b.settings.objective}: the robust term needs the global batch's threshold (RobustConstants)`);
  if (k.gate === 0) return tf.zeros([b.n]) as tf.Tensor1D;
  const shape: [number, number, number] = [b.n, b.grid, b.grid];
  const t = tf.tanh(tf.mul(tf.sub(b.cam, k.threshold), TANH_SCALE));
  const m = tf.tensor3d(labelledMask(b.target), shape);
  const perPixel = tf.mul(tf.abs(tf.sub(t, tf.tensor3d(b.target, shape))), m);
  return tf.sub(tf.mul(tf.sum(perPixel, [1, 2]), k.pixelScale), k.eta) as tf.Tensor1D;
}
