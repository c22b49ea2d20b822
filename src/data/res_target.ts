/**
 * RES's label targets (Gao et al., KDD'22, RES.py `resize_attention_label`): the positive and
 * the negative ("counterfactual") maps are each taken as `uint8(map) * 255`, resized to the
 * Grad-CAM grid with OpenCV's INTER_NEAREST, divided by 255, and subtracted, giving values in
 * {-1, 0, 1}. Unlike GRADIA's target (area resize + blur, `attentionTarget`) nothing is
 * smoothed. Also the full-resolution positive mask RES-L's imputation network reads.
 */
import { GradiaInputError } from '../util/errors.js';
import type { HumanMap } from './types.js';

/**
 * cv2.resize(src, (dw, dh), interpolation=cv2.INTER_NEAREST) of a single-channel uint8
 * image: destination pixel x reads source column floor(x * (1 / (dw / sw))), clamped to the
 * last column (OpenCV's resizeNN, not the half-pixel INTER_NEAREST_EXACT); rows alike.
 */
export function resizeNearestU8(src: Uint8Array, sh: number, sw: number, dh: number, dw: number): Uint8Array {
  if (src.length !== sh * sw) throw new RangeError(`resizeNearestU8: ${src.length} values, expected ${sh}x${sw}`);
  const ifx = 1 / (dw / sw);
  const ify = 1 / (dh / sh);
  const xs = new Int32Array(dw);
  for (let x = 0; x < dw; x++) xs[x] = Math.min(Math.floor(x * ifx), sw - 1);
  const out = new Uint8Array(dh * dw);
  for (let y = 0; y < dh; y++) {
    const row = Math.min(Math.floor(y * ify), sh - 1) * sw;
    for (let x = 0; x < dw; x++) out[y * dw + x] = src[row + xs[x]!]!;
  }
  return out;
}

/**
 * `np.uint8(map)` of a map stored as value x 255: the cast truncates, so only a full 1
 * (stored 255) survives; a fractional value becomes 0, as in RES.
 */
function uint8Cast(plane: Uint8Array): Uint8Array {
  return plane.map((v) => (v === 255 ? 1 : 0));
}

/**
 * RES's grid target of a human map: nearest(uint8(pos)) - nearest(uint8(neg)), values in
 * {-1, 0, 1}. Null (with a warning naming `name`, when `warnings` is given) when nothing is
 * left at grid x grid. A map smaller than the grid is an error naming `file` and `name`.
 */
export function resTarget(map: HumanMap, grid: number, name?: string, warnings?: string[], file?: string): Float32Array | null {
  if (!Number.isInteger(grid) || grid < 1) throw new RangeError(`resTarget: bad grid ${grid}`);
  if (map.h < grid || map.w < grid) {
    const problem = `attention map is ${map.h}x${map.w}, smaller than the ${grid}x${grid} Grad-CAM grid`;
    throw new GradiaInputError(file ?? name ?? null, file === undefined ? problem : `${name ?? 'an entry'}: ${problem}`);
  }
  const pos = resizeNearestU8(uint8Cast(map.data), map.h, map.w, grid, grid);
  const neg = map.negative ? resizeNearestU8(uint8Cast(map.negative), map.h, map.w, grid, grid) : null;
  const out = new Float32Array(grid * grid);
  let any = false;
  for (let i = 0; i < out.length; i++) {
    out[i] = pos[i]! - (neg ? neg[i]! : 0);
    if (out[i] !== 0) any = true;
  }
  if (!any) {
    warnings?.push(`${name ?? 'attention map'}: no label left at ${grid}x${grid} after RES's nearest-neighbour resize, skipped`);
    return null;
  }
  return out;
}

/**
 * RES-L's imputation input: the positive mask `y_full > 0` (positive value above the
 * negative one) brought to the input resolution size x size by INTER_NEAREST (the identity
 * when the map already has that size), 1 inside, 0 outside.
 */
export function positiveMaskAt(map: HumanMap, size: number): Uint8Array {
  const mask = new Uint8Array(map.h * map.w);
  for (let i = 0; i < mask.length; i++) mask[i] = map.data[i]! > (map.negative ? map.negative[i]! : 0) ? 1 : 0;
  return map.h === size && map.w === size ? mask : resizeNearestU8(mask, map.h, map.w, size, size);
}
