// The sharp image pipeline in a piscina pool (needs the compiled worker: npm run build) and the flip rule.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { attentionTarget } from '../src/data/attention.js';
import { flipFor, flipMap } from '../src/data/flip.js';
import { flipImageInPlace } from './helpers/flip_image.js';
import { ImagePipeline } from '../src/data/pipeline.js';
import { IMAGENET_MEAN, IMAGENET_STD, normaliseInto } from '../src/data/resize.js';
import { GradiaInputError } from '../src/util/errors.js';
import { compiledEntry } from '../src/util/paths.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-pipe-'));
let pipe: ImagePipeline;
beforeAll(async () => {
  if (!fs.existsSync(compiledEntry('data/pipeline_worker'))) throw new Error('compiled pipeline worker missing: run `npm run build` first');
  pipe = await ImagePipeline.create({ threads: 2, size: 16 });
});
afterAll(async () => {
  await pipe?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function writeRaw(name: string, data: Uint8Array, w: number, h: number, channels: 1 | 3 | 4 = 3): Promise<string> {
  const p = path.join(tmp, name);
  await sharp(Buffer.from(data), { raw: { width: w, height: h, channels } }).png().toFile(p);
  return p;
}

describe('ImagePipeline', () => {
  test('decode + resize match PIL (torchvision Resize), then ToTensor + Normalize, NHWC', async () => {
    const fx = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, 'fixtures', 'cv', 'pil_resize.json'), 'utf8'));
    const cases = (fx.cases as { sh: number; sw: number; dh: number; dw: number; src: string; dst: string }[]).filter((c) => c.dh === c.dw);
    expect(cases.length).toBeGreaterThanOrEqual(3);
    for (const c of cases) {
      const p = await writeRaw(`pil_${c.sw}x${c.sh}.png`, new Uint8Array(Buffer.from(c.src, 'base64')), c.sw, c.sh);
      const pp = await ImagePipeline.create({ threads: 1, size: c.dh });
      try {
        const got = await pp.load([p], [false]);
        const want = new Float32Array(c.dh * c.dw * 3);
        normaliseInto(new Uint8Array(Buffer.from(c.dst, 'base64')), c.dh, c.dw, false, want, 0);
        expect(got.length).toBe(want.length);
        expect(Array.from(got)).toEqual(Array.from(want));
      } finally {
        await pp.close();
      }
    }
  });
  test('flips mirror the image; batches are concatenated in order; same result with 1 or 2 threads', async () => {
    const a = new Uint8Array(16 * 16 * 3).map((_, i) => (i * 37) % 251);
    const b = new Uint8Array(16 * 16 * 3).map((_, i) => (i * 11) % 253);
    const pa = await writeRaw('a.png', a, 16, 16);
    const pb = await writeRaw('b.png', b, 16, 16);
    const x = await pipe.load([pa, pb, pa], [false, false, true]);
    const per = 16 * 16 * 3;
    expect(x.length).toBe(3 * per);
    const wantA = new Float32Array(per);
    normaliseInto(a, 16, 16, false, wantA, 0);
    const wantB = new Float32Array(per);
    normaliseInto(b, 16, 16, false, wantB, 0);
    expect(Array.from(x.subarray(0, per))).toEqual(Array.from(wantA));
    expect(Array.from(x.subarray(per, 2 * per))).toEqual(Array.from(wantB));
    const flipped = flipImageInPlace(a.slice(), 16, 16, 3);
    const wantAf = new Float32Array(per);
    normaliseInto(flipped, 16, 16, false, wantAf, 0);
    expect(Array.from(x.subarray(2 * per))).toEqual(Array.from(wantAf));
    const one = await ImagePipeline.create({ threads: 1, size: 16 });
    try {
      expect(Array.from(await one.load([pa, pb, pa], [false, false, true]))).toEqual(Array.from(x));
    } finally {
      await one.close();
    }
  });
  test('each file is decoded once per pipeline (cache by path and size), also under concurrent loads', async () => {
    const p = await writeRaw('once.png', new Uint8Array(20 * 10 * 3).fill(77), 20, 10);
    const pp = await ImagePipeline.create({ threads: 2, size: 8 });
    try {
      await Promise.all([pp.load([p, p], [false, true]), pp.load([p], [false])]);
      await pp.load([p], [true]);
      expect(pp.decodedFiles).toBe(1);
      expect(pp.cacheStats).toEqual({ images: 1, bytes: 8 * 8 * 3, capBytes: 2048 * 2 ** 20, evictions: 0 });
      expect(pp.queueDepth).toBe(0);
    } finally {
      await pp.close();
    }
  });
  test('the decode cache keeps at most its byte cap, dropping the least recently used image', async () => {
    const files = await Promise.all([1, 2, 3].map((v) => writeRaw(`lru${v}.png`, new Uint8Array(8 * 8 * 3).fill(40 * v), 8, 8)));
    const [a, b, c] = files;
    const per = 4 * 4 * 3;
    const pp = await ImagePipeline.create({ threads: 1, size: 4, cacheBytes: 2 * per });
    const none = await ImagePipeline.create({ threads: 1, size: 4, cacheBytes: 0 });
    try {
      const first = await pp.load([a, b], [false, false]);
      await pp.load([a], [false]); // a is now the most recently used: b goes first
      await pp.load([c], [false]);
      expect(pp.cacheStats).toEqual({ images: 2, bytes: 2 * per, capBytes: 2 * per, evictions: 1 });
      expect(pp.decodedFiles).toBe(3);
      await pp.load([a, c], [false, false]); // both cached
      expect(pp.decodedFiles).toBe(3);
      const again = await pp.load([a, b], [false, false]); // b decoded again, c dropped
      expect(pp.decodedFiles).toBe(4);
      expect(pp.cacheStats.evictions).toBe(2);
      expect(Array.from(again)).toEqual(Array.from(first));
      // no cache: every load decodes, results unchanged
      expect(Array.from(await none.load([a, b], [false, false]))).toEqual(Array.from(first));
      await none.load([a], [false]);
      expect(none.decodedFiles).toBe(3);
      expect(none.cacheStats).toEqual({ images: 0, bytes: 0, capBytes: 0, evictions: 0 });
    } finally {
      await pp.close();
      await none.close();
    }
  });
  test('grey and RGBA images become RGB (alpha dropped, as PIL convert("RGB"))', async () => {
    const g = await writeRaw('grey.png', new Uint8Array(16 * 16).fill(200), 16, 16, 1);
    const rgba = new Uint8Array(16 * 16 * 4);
    for (let i = 0; i < 256; i++) rgba.set([10, 100, 250, i % 2 ? 0 : 255], i * 4);
    const c = await writeRaw('rgba.png', rgba, 16, 16, 4);
    const x = await pipe.load([g, c], [false, false]);
    const v = (u: number, ch: number) => (Math.fround(u / 255) - IMAGENET_MEAN[ch]) / IMAGENET_STD[ch];
    expect(x[0]).toBeCloseTo(v(200, 0), 5);
    expect(x[1]).toBeCloseTo(v(200, 1), 5);
    expect(x[2]).toBeCloseTo(v(200, 2), 5);
    const o = 16 * 16 * 3 + 3; // second pixel of the RGBA image (alpha 0): colour kept
    expect([x[o], x[o + 1], x[o + 2]].map((q) => q.toFixed(4))).toEqual([v(10, 0), v(100, 1), v(250, 2)].map((q) => q.toFixed(4)));
  });
  test('an unreadable or corrupt image rejects with GradiaInputError naming the file', async () => {
    const good = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).png({ compressionLevel: 0 }).toBuffer();
    const truncated = path.join(tmp, 'truncated.png');
    fs.writeFileSync(truncated, good.subarray(0, Math.floor(good.length / 2)));
    const garbage = path.join(tmp, 'garbage.jpg');
    fs.writeFileSync(garbage, 'not an image at all');
    for (const f of [truncated, garbage, path.join(tmp, 'missing.png')]) {
      const err = await pipe.load([f], [false]).then(() => null, (e: unknown) => e);
      expect(err, f).toBeInstanceOf(GradiaInputError);
      expect((err as GradiaInputError).file).toBe(f);
      expect((err as GradiaInputError).problem).toMatch(/unreadable or corrupt image/);
    }
  });
  test('flip of the attention map matches flip of the image', async () => {
    // an image whose white pixels are the human map; flipping the image through the
    // pipeline and rebuilding the target from its pixels equals flipMap of the target
    const s = 64;
    const mask = new Uint8Array(s * s);
    for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) if ((x - 12) ** 2 + (y - 20) ** 2 < 90 || (x > 30 && x < 40 && y > 40)) mask[y * s + x] = 255;
    const rgb = new Uint8Array(s * s * 3);
    for (let i = 0; i < s * s; i++) rgb.fill(mask[i], i * 3, i * 3 + 3);
    const p = await writeRaw('maskimg.png', rgb, s, s);
    const pp = await ImagePipeline.create({ threads: 1, size: s });
    try {
      const x = await pp.load([p], [true]);
      const back = new Uint8Array(s * s);
      for (let i = 0; i < s * s; i++) back[i] = x[i * 3] * IMAGENET_STD[0] + IMAGENET_MEAN[0] > 0.5 ? 255 : 0;
      for (const grid of [2, 4, 7]) {
        const t = attentionTarget({ h: s, w: s, data: mask }, grid)!;
        const tf = attentionTarget({ h: s, w: s, data: back }, grid)!;
        expect(Array.from(tf)).toEqual(Array.from(flipMap(t, grid)));
        if (grid === 4) expect(Array.from(tf)).not.toEqual(Array.from(t)); // the case is asymmetric
      }
    } finally {
      await pp.close();
    }
  });
});

describe('flipFor / flipMap', () => {
  test('pure function of (seed, epoch, index): same answers in any order', () => {
    const a = Array.from({ length: 500 }, (_, i) => flipFor(7, 3, i));
    const b = Array.from({ length: 500 }, (_, i) => 499 - i).map((i) => flipFor(7, 3, i)).reverse();
    expect(b).toEqual(a);
    const many = Array.from({ length: 5000 }, (_, i) => flipFor(7, 3, i));
    const rate = many.filter(Boolean).length / many.length;
    expect(rate).toBeGreaterThan(0.47);
    expect(rate).toBeLessThan(0.53);
    const other = (f: (i: number) => boolean) => Array.from({ length: 500 }, (_, i) => f(i)).filter((v, i) => v !== a[i]).length;
    expect(other((i) => flipFor(8, 3, i))).toBeGreaterThan(180);
    expect(other((i) => flipFor(7, 4, i))).toBeGreaterThan(180);
    expect(flipFor(2 ** 40, 0, 1)).toBe(flipFor(2 ** 40, 0, 1));
    expect(() => flipFor(1.5, 0, 0)).toThrow();
  });
  test('flipMap mirrors rows', () => {
    expect(Array.from(flipMap(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), 3))).toEqual([3, 2, 1, 6, 5, 4, 9, 8, 7]);
    const m = Float32Array.from({ length: 49 }, (_, i) => i);
    expect(flipMap(flipMap(m, 7), 7)).toEqual(m);
  });
});
