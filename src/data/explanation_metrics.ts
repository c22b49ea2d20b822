/**
 * Explanation precision, recall and F1 as RES reports them (RES.py `compute_exp_score` on the
 * mask of `GradCam.__call__`): the raw Grad-CAM of the predicted class minus its minimum on
 * the grid, bilinear-resized (OpenCV INTER_LINEAR, as `resizeBilinear`) to the human map's
 * size, divided by (its maximum + 1e-6), binarised at > 0.5 (no ReLU, unlike GRADIA's IoU);
 * against the human label y in {-1, 0, 1}:
 *   tp = sum(x * (y > 0)), fp = sum(x * (y < 0)), fn = sum((1 - x) * (y > 0)),
 *   precision = tp / (tp + fp + 1e-6), recall = tp / (tp + fn + 1e-6),
 *   F1 = 2 P R / (P + R + 1e-6).
 * Precision only sees negative labels: a map without any has precision ~1 whatever the
 * model looks at (tp / (tp + 1e-6)), or 0 when the mask misses every positive pixel.
 */
import { resizeBilinear } from './iou.js';
import type { HumanMap } from './types.js';

export interface ExplanationScores {
  precision: number;
  recall: number;
  f1: number;
}

const EPS = 1e-6;

/** RES's binarised explanation of a raw grid x grid cam at h x w (1 = the model looks here). */
export function resCamMask(cam: Float32Array, grid: number, h: number, w: number): Uint8Array {
  if (cam.length !== grid * grid) throw new RangeError(`resCamMask: cam has ${cam.length} values, expected ${grid}x${grid}`);
  let min = Infinity;
  for (const v of cam) if (v < min) min = v;
  const shifted = cam.map((v) => Math.fround(v - min));
  const up = resizeBilinear(shifted, grid, grid, h, w);
  let max = -Infinity;
  for (const v of up) if (v > max) max = v;
  // numpy: float32 array / (float32 max + 1e-6) divides in float32 by the rounded sum
  const den = Math.fround(max + EPS);
  const mask = new Uint8Array(h * w);
  for (let i = 0; i < up.length; i++) mask[i] = Math.fround(up[i]! / den) > 0.5 ? 1 : 0;
  return mask;
}

/** The label's sign at pixel i: +1 (look here), -1 (do not look here) or 0. */
function signAt(human: HumanMap, i: number): number {
  const p = human.data[i]!;
  const n = human.negative ? human.negative[i]! : 0;
  return p > n ? 1 : p < n ? -1 : 0;
}

/** RES's scores of a binary mask (h x w, the human map's size) against a human label. */
export function explanationScores(mask: Uint8Array, human: HumanMap): ExplanationScores {
  if (mask.length !== human.h * human.w) throw new RangeError(`explanationScores: mask has ${mask.length} values, the map ${human.h}x${human.w}`);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < mask.length; i++) {
    const y = signAt(human, i);
    if (y > 0) {
      if (mask[i]) tp++;
      else fn++;
    } else if (y < 0 && mask[i]) fp++;
  }
  const precision = tp / (tp + fp + EPS);
  const recall = tp / (tp + fn + EPS);
  return { precision, recall, f1: (2 * precision * recall) / (precision + recall + EPS) };
}

/** Explanation precision, recall and F1 of a raw Grad-CAM against a human map. */
export function camExplanationScores(cam: Float32Array, grid: number, human: HumanMap): ExplanationScores {
  return explanationScores(resCamMask(cam, grid, human.h, human.w), human);
}
