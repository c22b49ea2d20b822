/**
 * The training target of a human map (OpenCV INTER_AREA resize + 3x3 GaussianBlur + divide
 * by max), as pure code with no node imports: the trainer and the review page (which shows
 * the exact G x G target phase 2 will train on) run this same module.
 */
import { GradiaInputError } from '../util/errors.js';
import type { HumanMap } from './types.js';

/**
 * A human map at its own size; `data` holds the positive JSON values x 255 (0 or 255 for
 * 0/1 maps), `negative` (only when the map has -1 values) the negative ones x 255.
 */
export type AttentionMap = HumanMap;

// ---------------------------------------------------------------------------------------
// OpenCV-equivalent resize (INTER_AREA) and 3x3 Gaussian blur on uint8 maps.

/** cvRound: round half to even (lrint in the default rounding mode), then saturate to uint8. */
function satU8(v: number): number {
  let r = Math.round(v);
  if (r - v === 0.5 && (r & 1) === 1) r -= 1; // halfway: to even
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

interface AreaTab { di: number; si: number; alpha: number }

function areaTab(ssize: number, dsize: number, scale: number): AreaTab[] {
  // cv::computeResizeAreaTab (alpha kept as float32, as OpenCV stores it)
  const tab: AreaTab[] = [];
  for (let dx = 0; dx < dsize; dx++) {
    const fsx1 = dx * scale;
    const fsx2 = fsx1 + scale;
    const cellWidth = Math.min(scale, ssize - fsx1);
    let sx1 = Math.ceil(fsx1);
    let sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, ssize - 1);
    sx1 = Math.min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) tab.push({ di: dx, si: sx1 - 1, alpha: Math.fround((sx1 - fsx1) / cellWidth) });
    for (let sx = sx1; sx < sx2; sx++) tab.push({ di: dx, si: sx, alpha: Math.fround(1 / cellWidth) });
    if (fsx2 - sx2 > 1e-3) tab.push({ di: dx, si: sx2, alpha: Math.fround(Math.min(Math.min(fsx2 - sx2, 1), cellWidth) / cellWidth) });
  }
  return tab;
}

/**
 * cv2.resize(src, (dw, dh), interpolation=cv2.INTER_AREA) for a single-channel uint8
 * image, downscaling only (dw <= sw, dh <= sh). Integer factors use OpenCV's fast path
 * (block sum x float 1/area, rounded); other factors the general area-weight tables with
 * float32 accumulation, as OpenCV does.
 */
export function resizeAreaU8(src: Uint8Array, sh: number, sw: number, dh: number, dw: number): Uint8Array {
  if (dh > sh || dw > sw) throw new RangeError(`resizeAreaU8 only shrinks (${sw}x${sh} -> ${dw}x${dh})`);
  const out = new Uint8Array(dh * dw);
  const scaleX = sw / dw;
  const scaleY = sh / dh;
  const iscaleX = Math.round(scaleX);
  const iscaleY = Math.round(scaleY);
  const fast = Math.abs(scaleX - iscaleX) < Number.EPSILON && Math.abs(scaleY - iscaleY) < Number.EPSILON;
  if (fast) {
    const scale = Math.fround(1 / (iscaleX * iscaleY));
    for (let dy = 0; dy < dh; dy++) {
      for (let dx = 0; dx < dw; dx++) {
        let sum = 0;
        for (let y = dy * iscaleY; y < (dy + 1) * iscaleY; y++) {
          const row = y * sw;
          for (let x = dx * iscaleX; x < (dx + 1) * iscaleX; x++) sum += src[row + x];
        }
        out[dy * dw + dx] = satU8(Math.fround(sum * scale));
      }
    }
    return out;
  }
  const xtab = areaTab(sw, dw, scaleX);
  const ytab = areaTab(sh, dh, scaleY);
  const buf = new Float32Array(dw);
  const sum = new Float32Array(dw);
  let prevDy = ytab.length ? ytab[0].di : 0;
  const flush = (dy: number): void => {
    for (let dx = 0; dx < dw; dx++) {
      out[dy * dw + dx] = satU8(sum[dx]);
      sum[dx] = 0;
    }
  };
  for (const { di: dy, si: sy, alpha: beta } of ytab) {
    if (dy !== prevDy) {
      flush(prevDy);
      prevDy = dy;
    }
    buf.fill(0);
    const row = sy * sw;
    for (const { di, si, alpha } of xtab) buf[di] = Math.fround(buf[di] + Math.fround(src[row + si] * alpha));
    for (let dx = 0; dx < dw; dx++) sum[dx] = Math.fround(sum[dx] + Math.fround(beta * buf[dx]));
  }
  flush(prevDy);
  return out;
}

/** BORDER_REFLECT_101 index (gfedcb|abcdefgh|gfedcba). */
export function reflect101(i: number, n: number): number {
  if (n === 1) return 0;
  while (i < 0 || i >= n) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * n - 2 - i;
  }
  return i;
}

/**
 * cv2.GaussianBlur(src, (3, 3), 0) on a single-channel uint8 image. With sigma 0 and a
 * 3-tap kernel OpenCV uses its fixed small-kernel table [1/4, 1/2, 1/4] (sigma is
 * nominally 0.8, but the tabulated binomial kernel is what it computes) and its bit-exact
 * fixed-point path for 8-bit images: an exact weighted sum /16, rounded half up.
 * Border: BORDER_REFLECT_101.
 */
export function gaussianBlur3U8(src: Uint8Array, h: number, w: number): Uint8Array {
  const tmp = new Uint16Array(h * w); // horizontal pass, x4 (exact)
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const row = y * w;
      tmp[row + x] = src[row + reflect101(x - 1, w)] + 2 * src[row + x] + src[row + reflect101(x + 1, w)];
    }
  }
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    const up = reflect101(y - 1, h) * w;
    const dn = reflect101(y + 1, h) * w;
    for (let x = 0; x < w; x++) {
      const s = tmp[up + x] + 2 * tmp[y * w + x] + tmp[dn + x]; // x16
      out[y * w + x] = Math.min(255, (s + 8) >> 4);
    }
  }
  return out;
}

/**
 * The training target of a human map for a `grid` x `grid` Grad-CAM: x255 (already stored
 * so), INTER_AREA resize to grid x grid, 3x3 Gaussian blur, divided by its max. Only the
 * positive plane counts (GRADIA has no negative labels): a map's negative labels leave
 * this target unchanged (RES's objectives take `resTarget` instead). An all-zero
 * result (an empty map, or one too sparse to survive the resize) gives null, and a warning
 * naming `name` is pushed to `warnings` when given. A map smaller than the grid is an
 * error naming `file` (the JSON file the map came from) and `name`.
 */
export function attentionTarget(map: AttentionMap, grid: number, name?: string, warnings?: string[], file?: string): Float32Array | null {
  if (!Number.isInteger(grid) || grid < 1) throw new RangeError(`attentionTarget: bad grid ${grid}`);
  let small: Uint8Array;
  if (map.h >= grid && map.w >= grid) small = resizeAreaU8(map.data, map.h, map.w, grid, grid);
  else {
    const problem = `attention map is ${map.h}x${map.w}, smaller than the ${grid}x${grid} Grad-CAM grid`;
    if (file === undefined) throw new GradiaInputError(name ?? null, problem);
    throw new GradiaInputError(file, `${name ?? 'an entry'}: ${problem}`);
  }
  const blurred = gaussianBlur3U8(small, grid, grid);
  let max = 0;
  for (let i = 0; i < blurred.length; i++) if (blurred[i] > max) max = blurred[i];
  if (max === 0) {
    warnings?.push(`${name ?? 'attention map'}: all-zero attention map at ${grid}x${grid}, skipped`);
    return null;
  }
  const out = new Float32Array(grid * grid);
  for (let i = 0; i < out.length; i++) out[i] = blurred[i] / max;
  return out;
}
