import { describe, expect, it } from 'vitest';
import { BONE_LUT, camOverlay, tileGrid } from '../src/report/overlay.js';

describe('bone colour map', () => {
  it('runs from black to white through a blue-grey middle', () => {
    expect(Array.from(BONE_LUT.subarray(0, 3))).toEqual([0, 0, 0]);
    expect(Array.from(BONE_LUT.subarray(255 * 3, 256 * 3)).map((v) => +v.toFixed(4))).toEqual([1, 1, 1]);
    // At 0.365079 the knots give r = 0.652778 * 0.365079 / 0.746032, g = 0.319444, b = 0.444444.
    const i = Math.round(0.365079 * 255);
    const x = i / 255;
    expect(BONE_LUT[i * 3]!).toBeCloseTo((0.652778 * x) / 0.746032, 5);
    expect(BONE_LUT[i * 3 + 2]!).toBeGreaterThan(BONE_LUT[i * 3]!); // bluish
  });
});

describe('camOverlay', () => {
  it('keeps the attended pixel brightest and blacks out the unattended one', () => {
    const rgb = new Uint8Array([200, 100, 50, 200, 100, 50]);
    const out = camOverlay(rgb, new Float32Array([1, 0]), 1, 2);
    expect(Array.from(out.subarray(3))).toEqual([0, 0, 0]);
    // mask 1 -> bone white, so the pixel keeps its colour, rescaled so the max channel is 255.
    expect(out[0]).toBe(255);
    expect(out[1]).toBe(Math.floor((100 / 200) * 255));
  });
  it('gives an all-black picture, not NaN, for an all-zero mask', () => {
    const out = camOverlay(new Uint8Array([10, 20, 30]), new Float32Array([0]), 1, 1);
    expect(Array.from(out)).toEqual([0, 0, 0]);
  });
});

describe('tileGrid', () => {
  it('places tiles row-major with gaps', () => {
    const a = new Uint8Array([1, 1, 1]);
    const b = new Uint8Array([2, 2, 2]);
    const c = new Uint8Array([3, 3, 3]);
    const g = tileGrid([a, b, c], 1, 1, 2, 1);
    expect(g.width).toBe(3);
    expect(g.height).toBe(3);
    expect(g.data[0]).toBe(1);
    expect(g.data[2 * 3]).toBe(2);
    expect(g.data[(2 * 3 + 0) * 3]).toBe(3);
    // gaps and the empty fourth cell take the background
    expect(g.data[1 * 3]).toBe(0);
    const white = tileGrid([a, b, c], 1, 1, 2, 1, 255);
    expect(white.data[1 * 3]).toBe(255);
    expect(white.data[(2 * 3 + 2) * 3]).toBe(255);
  });
});
