// make-data (the generated data set where attention matters) and the stand-in judge (assess).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { makeDataCommand } from '../src/cli/make_data.js';
import { assessAndReport } from '../src/cli/assess_command.js';
import { assessModel, formatMatrix, readHumanAssessment } from '../src/data/assess.js';
import { generateDataSet, planSplit, renderSample } from '../src/data/generator.js';
import { buildEvalSet, buildTrainSet } from '../src/data/phase_dataset.js';
import { readReasonability } from '../src/data/reasonability.js';
import type { EvalSample } from '../src/data/types.js';
import { GradiaInputError } from '../src/util/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-gen-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const OPTS = { seed: 11, train: 200, val: 40, test: 200, size: 64, spurious: 0.8 };
const dir = path.join(tmp, 'set');
beforeAll(async () => {
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
  await makeDataCommand({ out: dir, ...OPTS });
  vi.restoreAllMocks();
});

/** which class the context patch's colour says, read from the pixels */
async function cueFromPixels(file: string): Promise<number> {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  let red = 0;
  let blue = 0;
  for (let i = 0; i < data.length; i += info.channels) {
    const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
    if (r > 180 && g < 80 && b < 80) red++;
    if (b > 180 && r < 80 && g < 110) blue++;
  }
  expect(red + blue).toBeGreaterThan(40); // the patch is there
  expect(Math.min(red, blue)).toBe(0); // and only one colour
  return red > blue ? 0 : 1;
}

function hashTree(d: string): string {
  const h = crypto.createHash('sha256');
  const walk = (p: string): void => {
    for (const n of fs.readdirSync(p).sort()) {
      const q = path.join(p, n);
      if (fs.statSync(q).isDirectory()) walk(q);
      else h.update(`${path.relative(d, q)}\0`).update(fs.readFileSync(q));
    }
  };
  walk(d);
  return h.digest('hex');
}

describe('make-data', () => {
  test('writes the original layout and label files; loads through the same loader', async () => {
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'attention_val_update.json'), 'utf8'))).toEqual([]);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'attention_val_remove.json'), 'utf8'))).toEqual([]);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'reasonablity_val.json'), 'utf8'))).toEqual({});
    const p1 = await buildTrainSet(dir, { phase: 1, reasonability: false, grid: 2 });
    expect(p1.classes).toEqual(['circle', 'cross']);
    expect(p1.samples).toHaveLength(200);
    expect(p1.samples.filter((s) => s.label === 0)).toHaveLength(100);
    expect(p1.warnings).toEqual([]);
    const p2 = await buildTrainSet(dir, { phase: 2, reasonability: false, grid: 3 });
    expect(p2.source).toBe('train+val');
    expect(p2.samples).toHaveLength(240);
    expect(p2.samples.filter((s) => s.target !== null)).toHaveLength(40);
    expect(p2.warnings).toEqual([]);
    for (const split of ['val', 'test'] as const) {
      const ev = await buildEvalSet(dir, split);
      expect(ev.samples).toHaveLength(OPTS[split]);
      expect(ev.samples.every((s) => s.humanMap !== null && s.humanMap.h === 64 && s.humanMap.w === 64)).toBe(true);
      expect(ev.warnings).toEqual([]);
    }
  });
  test('the context cue alone predicts train and val labels at about P, and is independent of them in test', async () => {
    const acc: Record<string, number> = {};
    for (const split of ['train', 'val', 'test'] as const) {
      const ev = await buildEvalSet(dir, split === 'train' ? 'val' : split, { checkImages: false });
      const samples = split === 'train' ? (await buildTrainSet(dir, { phase: 1, reasonability: false, grid: 2, checkImages: false })).samples : ev.samples;
      let right = 0;
      for (const s of samples) if ((await cueFromPixels(s.path)) === s.label) right++;
      acc[split] = right / samples.length;
    }
    expect(Math.abs(acc.train - OPTS.spurious)).toBeLessThan(0.08); // sd 0.028 at n = 200
    expect(Math.abs(acc.val - OPTS.spurious)).toBeLessThan(0.2); // n = 40
    expect(Math.abs(acc.test - 0.5)).toBeLessThan(0.12); // independent: chance
  });
  test('human maps cover the subject loosely, not the context; written maps are the rendered ones', async () => {
    const ev = await buildEvalSet(dir, 'val', { checkImages: false });
    const plan = planSplit(OPTS.seed, 'val', OPTS.val, OPTS.spurious);
    for (let i = 0; i < plan.length; i++) {
      const r = renderSample(plan[i].seed, OPTS.size, plan[i].label, plan[i].cue);
      const name = `val_${String(i).padStart(5, '0')}.png`;
      const s = ev.samples.find((x) => x.fileName === name)!;
      expect(s.label).toBe(plan[i].label);
      expect(Array.from(s.humanMap!.data).map((v) => (v ? 1 : 0))).toEqual(Array.from(r.human));
      let subj = 0;
      let covered = 0;
      let human = 0;
      let onContext = 0;
      for (let k = 0; k < r.subject.length; k++) {
        subj += r.subject[k];
        human += r.human[k];
        if (r.subject[k] && r.human[k]) covered++;
        if (r.context[k] && r.human[k]) onContext++;
      }
      expect(covered).toBe(subj); // every subject pixel is inside the human map
      expect(human / subj).toBeGreaterThan(1.15); // drawn loosely, not traced
      expect(human / subj).toBeLessThan(3);
      expect(onContext).toBe(0);
      // the decoded PNG is the rendered image
      const { data } = await sharp(s.path).raw().toBuffer({ resolveWithObject: true });
      expect(Buffer.compare(data, Buffer.from(r.rgb))).toBe(0);
    }
  });
  test('the subject shape decides the class (disc vs plus sign)', () => {
    for (let i = 0; i < 40; i++) {
      const label = i % 2;
      const r = renderSample(1000 + i, 64, label, i % 3 === 0 ? 1 - label : label);
      let minX = 64, maxX = 0, minY = 64, maxY = 0, area = 0;
      for (let k = 0; k < r.subject.length; k++) {
        if (!r.subject[k]) continue;
        const x = k % 64;
        const y = Math.floor(k / 64);
        area++;
        minX = Math.min(minX, x); maxX = Math.max(maxX, x); minY = Math.min(minY, y); maxY = Math.max(maxY, y);
      }
      const fill = area / ((maxX - minX + 1) * (maxY - minY + 1));
      if (label === 0) expect(fill).toBeGreaterThan(0.72);
      else expect(fill).toBeLessThan(0.7);
    }
  });
  test('deterministic for a seed; a different seed differs; same options reuse the folder', async () => {
    const a = path.join(tmp, 'a');
    const b = path.join(tmp, 'b');
    const small = { seed: 3, train: 6, val: 4, test: 4, size: 32, spurious: 0.9 };
    await generateDataSet({ out: a, ...small });
    await generateDataSet({ out: b, ...small });
    expect(hashTree(a)).toBe(hashTree(b));
    const again = await generateDataSet({ out: a, ...small });
    expect(again.reused).toBe(true);
    await generateDataSet({ out: b, ...small, seed: 4 });
    expect(hashTree(b)).not.toBe(hashTree(a));
  });
  test('refuses a non-empty folder it did not make, and bad options', async () => {
    const d = path.join(tmp, 'userdir');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'precious.txt'), 'x');
    await expect(generateDataSet({ out: d, ...OPTS })).rejects.toThrow(GradiaInputError);
    expect(fs.existsSync(path.join(d, 'precious.txt'))).toBe(true);
    await expect(generateDataSet({ out: path.join(tmp, 'x'), ...OPTS, size: 50 })).rejects.toThrow(/--size must be a multiple of 32/);
    await expect(generateDataSet({ out: path.join(tmp, 'x'), ...OPTS, spurious: 1.5 })).rejects.toThrow(/--spurious/);
    await expect(generateDataSet({ out: path.join(tmp, 'x'), ...OPTS, train: 1 })).rejects.toThrow(/--train/);
  });
});

describe('assess', () => {
  /** a fake model: predicts the true class except every 5th image; looks at the subject on even images */
  function fakeEvaluate(grid: number) {
    return async (samples: EvalSample[]) =>
      samples.map((s, i) => {
        const m = s.humanMap!;
        const cam = new Float32Array(grid * grid);
        // cam = human map area per cell (on the subject) or its point mirror (elsewhere)
        for (let y = 0; y < m.h; y++)
          for (let x = 0; x < m.w; x++) {
            if (!m.data[y * m.w + x]) continue;
            const cy = Math.floor((y * grid) / m.h);
            const cx = Math.floor((x * grid) / m.w);
            const k = i % 2 === 0 ? cy * grid + cx : (grid - 1 - cy) * grid + (grid - 1 - cx);
            cam[k] += 1;
          }
        return { pred: i % 5 === 4 ? 1 - s.label : s.label, cam, grid };
      });
  }
  test('model judge: IoU >= tau is reasonable; writes reasonablity_val.json and the 2x2 matrix', async () => {
    const r = await assessModel({ dataDir: dir, tau: 0.3, evaluate: fakeEvaluate(4) });
    const names = Object.keys(r.labels);
    expect(names).toHaveLength(40);
    const ev = await buildEvalSet(dir, 'val', { checkImages: false });
    ev.samples.forEach((s, i) => {
      const want = `${i % 2 === 0 ? 'Reasonable' : 'Unreasonable'} ${i % 5 === 4 ? 'Inaccurate' : 'Accurate'}`;
      expect(r.labels[s.fileName], s.fileName).toBe(want);
      if (i % 2 === 0) expect(r.ious[s.fileName]).toBeGreaterThan(0.3);
      else expect(r.ious[s.fileName]).toBeLessThan(0.3);
    });
    // rows accurate / inaccurate, columns reasonable / unreasonable
    expect(r.matrix).toEqual([
      [16, 16],
      [4, 4],
    ]);
    expect(Object.fromEntries(readReasonability(dir).labels)).toEqual(r.labels);
    expect(formatMatrix(r.matrix)).toMatch(/accurate\s+16\s+16\n.*inaccurate\s+4\s+4/);
    // phase 2 now gets label weights; --reasonability drops the Reasonable Accurate maps
    const p2 = await buildTrainSet(dir, { phase: 2, reasonability: true, grid: 3, checkImages: false });
    expect(p2.samples.filter((s) => s.target !== null)).toHaveLength(40 - 16);
    expect(p2.samples.filter((s) => s.attWeight === 1.6)).toHaveLength(16);
  });
  test('human judge: [{img, label}] instead of IoU; CLI prints the matrix', async () => {
    const ev = await buildEvalSet(dir, 'val', { checkImages: false });
    const hf = path.join(tmp, 'human.json');
    fs.writeFileSync(hf, JSON.stringify([...ev.samples.slice(0, 6).map((s, i) => ({ img: `some/dir/${s.fileName}`, label: i < 4 ? 'reasonable' : 'unreasonable' })), { img: '', label: 'x' }, { img: 'ghost.png', label: 'reasonable' }]));
    const logs: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((m: string) => void logs.push(m));
    vi.spyOn(console, 'warn').mockImplementation((m: string) => void logs.push(m));
    const r = await assessAndReport({ dataDir: dir, tau: 0.5, human: hf, evaluate: fakeEvaluate(3) });
    vi.restoreAllMocks();
    expect(Object.keys(r.labels)).toHaveLength(6);
    expect(r.matrix).toEqual([
      [4, 1],
      [0, 1],
    ]);
    expect(logs.join('\n')).toMatch(/1 entry names no validation image/);
    expect(logs.join('\n')).toMatch(/reasonable/);
    fs.writeFileSync(hf, JSON.stringify([{ img: 'a.png', label: 'maybe' }]));
    expect(() => readHumanAssessment(hf)).toThrow(/unknown label "maybe" for a\.png/);
    fs.writeFileSync(hf, '[{');
    expect(() => readHumanAssessment(hf)).toThrow(/not valid JSON/);
  });
});
