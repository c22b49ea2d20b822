/**
 * Evaluation IoU between a model's Grad-CAM and a human map, as GRADIA.py's evaluation:
 * cam (G x G raw, predicted class) -> ReLU -> bilinear resize to the map size -> min-max
 * normalise -> > 0.75, against human map > 0; IoU = |A and B| / |A or B|.
 *
 * The resize is OpenCV's cv2.resize INTER_LINEAR (what the original calls): half-pixel
 * centres (align_corners = false), source coordinate clamped to the edge, no antialiasing.
 * For float32 input OpenCV interpolates in float32; here the weights are the same and the
 * sums are rounded to float32 at the end, so values can differ from OpenCV in the last
 * float32 bit (and so in the > 0.75 decision only for a value within ~1e-7 of it).
 */
import type { AttentionMap } from './attention.js';

/** Bilinear (OpenCV INTER_LINEAR, half-pixel) resize of a g x g float map to h x w. */
export function resizeBilinear(src: Float32Array, sh: number, sw: number, dh: number, dw: number): Float32Array {
  const out = new Float32Array(dh * dw);
  const xs0 = new Int32Array(dw);
  const xs1 = new Int32Array(dw);
  const ax = new Float32Array(dw);
  const scaleX = sw / dw;
  const scaleY = sh / dh;
  for (let x = 0; x < dw; x++) {
    const fx = (x + 0.5) * scaleX - 0.5;
    let sx = Math.floor(fx);
    let a = fx - sx;
    if (sx < 0) {
      sx = 0;
      a = 0;
    }
    if (sx >= sw - 1) {
      sx = sw - 1;
      a = 0;
    }
    xs0[x] = sx;
    xs1[x] = Math.min(sx + 1, sw - 1);
    ax[x] = a;
  }
  for (let y = 0; y < dh; y++) {
    const fy = (y + 0.5) * scaleY - 0.5;
    let sy = Math.floor(fy);
    let b = fy - sy;
    if (sy < 0) {
      sy = 0;
      b = 0;
    }
    if (sy >= sh - 1) {
      sy = sh - 1;
      b = 0;
    }
    const b32 = Math.fround(b);
    const r0 = sy * sw;
    const r1 = Math.min(sy + 1, sh - 1) * sw;
    for (let x = 0; x < dw; x++) {
      const a = ax[x];
      const top = src[r0 + xs0[x]] * (1 - a) + src[r0 + xs1[x]] * a;
      const bot = src[r1 + xs0[x]] * (1 - a) + src[r1 + xs1[x]] * a;
      out[y * dw + x] = top * (1 - b32) + bot * b32;
    }
  }
  return out;
}

/** The binarised model attention: ReLU, bilinear to h x w, min-max, > threshold. */
export function camMask(cam: Float32Array, grid: number, h: number, w: number, threshold = 0.75): Uint8Array {
  if (cam.length !== grid * grid) throw new RangeError(`camMask: cam has ${cam.length} values, expected ${grid}x${grid}`);
  const relu = new Float32Array(cam.length);
  for (let i = 0; i < cam.length; i++) relu[i] = cam[i] > 0 ? cam[i] : 0;
  const up = resizeBilinear(relu, grid, grid, h, w);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < up.length; i++) {
    if (up[i] < min) min = up[i];
    if (up[i] > max) max = up[i];
  }
  const mask = new Uint8Array(h * w);
  const range = max - min;
  // A constant map gives 0/0 = NaN in the original, and NaN > 0.75 is false: empty mask.
  if (!(range > 0)) return mask;
  for (let i = 0; i < up.length; i++) mask[i] = (up[i] - min) / range > threshold ? 1 : 0;
  return mask;
}

/** Intersection and union sizes of two binary masks. */
export function overlap(a: Uint8Array, b: Uint8Array): { inter: number; union: number } {
  if (a.length !== b.length) throw new RangeError('overlap: masks differ in size');
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] !== 0;
    const y = b[i] !== 0;
    if (x && y) inter++;
    if (x || y) union++;
  }
  return { inter, union };
}

/**
 * IoU of a raw Grad-CAM (grid x grid, predicted class) with a human map. Both masks empty
 * (0/0, NaN in the original) is defined as 0 here: no agreement can be shown.
 */
export function camIoU(cam: Float32Array, grid: number, human: AttentionMap): number {
  const mask = camMask(cam, grid, human.h, human.w);
  const { inter, union } = overlap(mask, human.data);
  return union === 0 ? 0 : inter / union;
}
