// Numerical parity of the data layer with OpenCV and PIL (fixtures: scripts/make_cv_fixtures.py).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { attentionTarget, gaussianBlur3U8, resizeAreaU8 } from '../src/data/attention.js';
import { camIoU, camMask, resizeBilinear } from '../src/data/iou.js';
import { IMAGENET_MEAN, IMAGENET_STD, normaliseInto, resizeBilinearPIL } from '../src/data/resize.js';

const FIX = path.join(import.meta.dirname, 'fixtures', 'cv');
const load = (f: string) => JSON.parse(fs.readFileSync(path.join(FIX, f), 'utf8'));
const unpack = (rows: string[]) => {
  const h = rows.length;
  const w = rows[0].length;
  const data = new Uint8Array(h * w);
  rows.forEach((r, y) => {
    for (let x = 0; x < w; x++) data[y * w + x] = r[x] === '1' ? 255 : 0;
  });
  return { h, w, data };
};

describe('attention targets match OpenCV (INTER_AREA + GaussianBlur 3x3 + /max)', () => {
  const fx = load('attention_targets.json');
  test('fixture covers integer, non-integer, non-square and identity resizes', () => {
    const shapes = new Set(fx.cases.map((c: { h: number; w: number; grid: number }) => `${c.h}x${c.w}->${c.grid}`));
    expect(shapes.has('224x224->7')).toBe(true);
    expect(shapes.has('96x96->3')).toBe(true);
    expect(shapes.has('100x100->3')).toBe(true);
    expect(shapes.has('50x70->7')).toBe(true);
    expect(fx.cases.length).toBeGreaterThan(25);
  });
  for (const c of fx.cases as { h: number; w: number; grid: number; kind: string; map: string[]; resized: number[]; blurred: number[]; target: number[][] | null }[]) {
    test(`${c.h}x${c.w} -> ${c.grid}x${c.grid} (${c.kind})`, () => {
      const m = unpack(c.map);
      const r = resizeAreaU8(m.data, m.h, m.w, c.grid, c.grid);
      expect(Array.from(r)).toEqual(c.resized);
      expect(Array.from(gaussianBlur3U8(r, c.grid, c.grid))).toEqual(c.blurred);
      const warnings: string[] = [];
      const t = attentionTarget(m, c.grid, 'x.jpg', warnings);
      if (c.target === null) {
        expect(t).toBeNull();
        expect(warnings).toEqual([expect.stringContaining('x.jpg')]);
      } else {
        expect(t).not.toBeNull();
        const flat = c.target.flat();
        for (let i = 0; i < flat.length; i++) expect(t![i]).toBeCloseTo(flat[i], 6);
        expect(Math.max(...t!)).toBe(1);
        expect(warnings).toEqual([]);
      }
    });
  }
  test('blur is not a true sigma-0.8 Gaussian: OpenCV tabulates [1,2,1]/4 for ksize 3, sigma 0', () => {
    const src = new Uint8Array(25);
    src[12] = 255;
    // centre: 255 * 4/16 = 63.75 -> 64; edge neighbours 255 * 2/16 -> 32; corners 255/16 -> 16
    expect(Array.from(gaussianBlur3U8(src, 5, 5))).toEqual([0, 0, 0, 0, 0, 0, 16, 32, 16, 0, 0, 32, 64, 32, 0, 0, 16, 32, 16, 0, 0, 0, 0, 0, 0]);
    // a corner pixel under BORDER_REFLECT_101 (values checked with cv2 4.6)
    const c = new Uint8Array(25);
    c[0] = 255;
    expect(Array.from(gaussianBlur3U8(c, 5, 5)).slice(0, 7)).toEqual([64, 32, 0, 0, 0, 32, 16]);
  });
});

describe('evaluation IoU matches the original (cv2.resize bilinear, min-max, > 0.75)', () => {
  const fx = load('iou.json');
  for (const c of fx.cases as { grid: number; h: number; w: number; cam: number[]; human: string[]; inter: number; union: number; iou: number; upsampled?: number[] }[]) {
    test(`cam ${c.grid}x${c.grid} vs map ${c.h}x${c.w}`, () => {
      const cam = Float32Array.from(c.cam);
      if (c.upsampled) {
        const up = resizeBilinear(cam.map((v) => (v > 0 ? v : 0)), c.grid, c.grid, c.h, c.w);
        for (let i = 0; i < up.length; i++) expect(up[i]).toBeCloseTo(c.upsampled[i], 5);
      }
      const human = unpack(c.human);
      expect(camIoU(cam, c.grid, human)).toBeCloseTo(c.iou, 12);
    });
  }
  test('hand-computed cases', () => {
    // 2x2 cam, one hot cell -> after bilinear 2->4 the top-left 2x2 block is highest
    const cam = Float32Array.from([1, 0, 0, 0]);
    const mask = camMask(cam, 2, 4, 4);
    // upsampled row 0: [1, .75, .25, 0] x col weights -> values > .75 only at (0,0)
    expect(Array.from(mask)).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const human = { h: 4, w: 4, data: new Uint8Array(16) };
    human.data[0] = 255;
    human.data[1] = 255;
    expect(camIoU(cam, 2, human)).toBe(1 / 2);
    // negative cam: ReLU -> constant -> empty mask (NaN in the original); human empty -> 0/0 := 0
    expect(camIoU(Float32Array.from([-1, -2, -3, -4]), 2, { h: 4, w: 4, data: new Uint8Array(16) })).toBe(0);
    expect(camIoU(Float32Array.from([-1, -2, -3, -4]), 2, human)).toBe(0);
  });
});

describe('image resize matches PIL BILINEAR (torchvision Resize((h, w)))', () => {
  const fx = load('pil_resize.json');
  for (const c of fx.cases as { sh: number; sw: number; dh: number; dw: number; src: string; dst: string }[]) {
    test(`${c.sw}x${c.sh} -> ${c.dw}x${c.dh}`, () => {
      const src = new Uint8Array(Buffer.from(c.src, 'base64'));
      const want = new Uint8Array(Buffer.from(c.dst, 'base64'));
      expect(Array.from(resizeBilinearPIL(src, c.sh, c.sw, 3, c.dh, c.dw))).toEqual(Array.from(want));
    });
  }
  test('normalisation is ToTensor + Normalize, flip mirrors columns', () => {
    const img = Uint8Array.from([0, 128, 255, 10, 20, 30]); // 1x2 RGB
    const out = new Float32Array(6);
    normaliseInto(img, 1, 2, false, out, 0);
    expect(out[0]).toBeCloseTo((0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0], 5);
    expect(out[1]).toBeCloseTo((128 / 255 - IMAGENET_MEAN[1]) / IMAGENET_STD[1], 5);
    expect(out[5]).toBeCloseTo((30 / 255 - IMAGENET_MEAN[2]) / IMAGENET_STD[2], 5);
    const f = new Float32Array(6);
    normaliseInto(img, 1, 2, true, f, 0);
    expect(Array.from(f)).toEqual([...out.slice(3), ...out.slice(0, 3)]);
  });
});
