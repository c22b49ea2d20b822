// Issue #15, the label side: negative labels in GRADIA's JSON maps and RES's CSV files,
// RES's nearest-neighbour grid targets and RES-L's full mask, flips, the label budget.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { attentionTarget, readAttentionFile } from '../src/data/attention.js';
import { flipMap, flipMaskU8 } from '../src/data/flip.js';
import { generateDataSet, renderSample, planSplit } from '../src/data/generator.js';
import { drawLabelBudget } from '../src/data/label_budget.js';
import { buildEvalSet, buildTrainSet, datasetFingerprint } from '../src/data/phase_dataset.js';
import { loadResLabels, parseCsv, readResCsv, resImageName } from '../src/data/res_csv.js';
import { positiveMaskAt, resizeNearestU8, resTarget } from '../src/data/res_target.js';
import type { HumanMap } from '../src/data/types.js';
import { GradiaInputError } from '../src/util/errors.js';
import { flipImageInPlace } from './helpers/flip_image.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-neg-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function file(content: string, name = `f${n}.json`): string {
  const d = path.join(tmp, `d${n++}`);
  fs.mkdirSync(d);
  const p = path.join(d, name);
  fs.writeFileSync(p, content);
  return p;
}
function inputError(fn: () => unknown): GradiaInputError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GradiaInputError);
    expect((e as Error).message.split('\n')).toHaveLength(1);
    return e as GradiaInputError;
  }
  throw new Error('no error');
}

describe('negative labels in GRADIA JSON maps', () => {
  test('-1 goes to the negative plane; positive values are stored as before', () => {
    const f = file(JSON.stringify([{ img: 'a.jpg', attention: [[1, -1], [0, 0.5]] }, { img: 'b.jpg', attention: [[-0.5, 0], [1, 1]] }, { img: 'c.jpg', attention: [[0, 1]] }]));
    const m = readAttentionFile(f);
    expect(m.get('a.jpg')).toEqual({ h: 2, w: 2, data: Uint8Array.from([255, 0, 0, 128]), negative: Uint8Array.from([0, 255, 0, 0]) });
    expect(m.get('b.jpg')).toEqual({ h: 2, w: 2, data: Uint8Array.from([0, 0, 255, 255]), negative: Uint8Array.from([128, 0, 0, 0]) });
    // a 0/1 map has no negative plane at all
    expect('negative' in m.get('c.jpg')!).toBe(false);
  });
  test('a negative value past a map longer than the reader\'s first buffer lands in place', () => {
    const rows = Array.from({ length: 300 }, (_, y) => Array.from({ length: 300 }, (_, x) => (y === 299 && x === 299 ? -1 : y === 0 && x === 0 ? -1 : (x + y) % 7 === 0 ? 1 : 0)));
    const m = readAttentionFile(file(JSON.stringify([{ img: 'big.jpg', attention: rows }]))).get('big.jpg')!;
    expect(m.negative!.length).toBe(300 * 300);
    expect(m.negative![0]).toBe(255);
    expect(m.negative![300 * 300 - 1]).toBe(255);
    expect(m.negative!.reduce((a, v) => a + (v ? 1 : 0), 0)).toBe(2);
    expect(m.data[7]).toBe(255);
  });
  test('GRADIA\'s target ignores negatives (positives only)', () => {
    const pos: HumanMap = { h: 8, w: 8, data: Uint8Array.from({ length: 64 }, (_, i) => (i % 8 < 3 && i < 24 ? 255 : 0)) };
    const withNeg: HumanMap = { ...pos, negative: Uint8Array.from({ length: 64 }, (_, i) => (i >= 40 ? 255 : 0)) };
    expect(Array.from(attentionTarget(withNeg, 4)!)).toEqual(Array.from(attentionTarget(pos, 4)!));
  });
});

describe('RES targets: INTER_NEAREST of uint8(map) * 255, positive minus negative', () => {
  test('nearest picks source pixel floor(x * sw / dw) (OpenCV resizeNN)', () => {
    const src = Uint8Array.from({ length: 30 }, (_, i) => i); // 5 x 6
    // 5x6 -> 2x4: rows floor(y * 2.5) = 0, 2; cols floor(x * 1.5) = 0, 1, 3, 4
    expect(Array.from(resizeNearestU8(src, 5, 6, 2, 4))).toEqual([0, 1, 3, 4, 12, 13, 15, 16]);
    // upscaling 2x2 -> 3x3: cols floor(x * 2/3) = 0, 0, 1
    expect(Array.from(resizeNearestU8(Uint8Array.from([1, 2, 3, 4]), 2, 2, 3, 3))).toEqual([1, 1, 2, 1, 1, 2, 3, 3, 4]);
  });
  test('hand-made 4x4 map to a 2x2 grid', () => {
    // grid cells read pixels (0,0), (0,2), (2,0), (2,2)
    const data = new Uint8Array(16);
    data[0] = 255; // (0,0) positive
    data[2] = 128; // (0,2) a 0.5: uint8(0.5) = 0 in RES
    data[1] = 255; // (0,1) not sampled
    const negative = new Uint8Array(16);
    negative[10] = 255; // (2,2)
    negative[8] = 128; // (2,0) -0.5: uint8 cast gives 0
    const t = resTarget({ h: 4, w: 4, data, negative }, 2)!;
    expect(Array.from(t)).toEqual([1, 0, 0, -1]);
    // without its negative plane the same map gives only the positive cell
    expect(Array.from(resTarget({ h: 4, w: 4, data }, 2)!)).toEqual([1, 0, 0, 0]);
  });
  test('nothing left at the grid -> null with a warning; too small -> error naming the file', () => {
    const warnings: string[] = [];
    const data = new Uint8Array(16);
    data[5] = 255; // (1,1): never sampled at 2x2
    expect(resTarget({ h: 4, w: 4, data }, 2, 'x.jpg', warnings)).toBeNull();
    expect(warnings[0]).toMatch(/x\.jpg.*no label left at 2x2/);
    const e = inputError(() => resTarget({ h: 1, w: 1, data: Uint8Array.from([255]) }, 2, 'x.jpg', [], '/d/attention_val.json'));
    expect(e.file).toBe('/d/attention_val.json');
    expect(e.problem).toMatch(/x\.jpg: attention map is 1x1, smaller than the 2x2/);
  });
  test('RES-L full mask: positive above negative, nearest to the input size', () => {
    const data = Uint8Array.from([255, 255, 0, 0, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const negative = Uint8Array.from([0, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(positiveMaskAt({ h: 4, w: 4, data, negative }, 4))).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(positiveMaskAt({ h: 4, w: 4, data, negative }, 2))).toEqual([1, 0, 0, 0]);
  });
});

describe('flips carry negative labels', () => {
  test('a signed grid target and the full mask mirror like the image (oracle: the image flip helper)', () => {
    const g = 3;
    const t = Float32Array.from([1, 0, -1, 0, -1, 1, 1, 1, 0]);
    const want = flipImageInPlace(Float32Array.from(t), g, g, 1);
    expect(Array.from(flipMap(t, g))).toEqual(Array.from(want));
    expect(Array.from(flipMap(t, g))).toEqual([-1, 0, 1, 1, -1, 0, 0, 1, 1]);
    const mask = Uint8Array.from({ length: 12 }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0); // 3 x 4
    expect(Array.from(flipMaskU8(mask, 3, 4))).toEqual(Array.from(flipImageInPlace(Uint8Array.from(mask), 3, 4, 1)));
    expect(() => flipMaskU8(mask, 4, 4)).toThrow(/expected 4x4/);
  });
});

function csvQuote(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}
function csv(rows: [string, number[][] | string, string][], header = 'img_idx,attention,img_check,matrix_resize'): string {
  return [header, ...rows.map(([i, a, c]) => `${i},${csvQuote(typeof a === 'string' ? a : JSON.stringify(a))},${c},x`)].join('\r\n') + '\r\n';
}

describe("RES's CSV label files", () => {
  test('CSV parsing: quotes, doubled quotes, CRLF, newlines inside quotes, blank lines', () => {
    expect(parseCsv('a,b\r\n"x,1","say ""hi"""\n\n"multi\nline",z', 'f').map((r) => [r.fields, r.line])).toEqual([
      [['a', 'b'], 1], [['x,1', 'say "hi"'], 2], [['multi\nline', 'z'], 4],
    ]);
    expect(resImageName('000123')).toBe('000123.jpg');
    expect(resImageName('a.PNG')).toBe('a.PNG');
  });
  test('good rows only; positive minus counterfactual; orphans warned; JSON maps stay where no CSV map is', () => {
    const d = path.join(tmp, 'res1');
    fs.mkdirSync(path.join(d, 'attention_label'), { recursive: true });
    fs.writeFileSync(path.join(d, 'attention_label', 'gender_pos.csv'), csv([
      ['a', [[1, 1], [0, 0]], 'good'],
      ['b', [[1, 0], [0, 0]], 'bad'],
      ['c', [[0, 1], [1, 0]], 'good'],
    ]));
    fs.writeFileSync(path.join(d, 'attention_label', 'gender_counterfactual.csv'), csv([
      ['a', [[0, 1], [1, 0]], 'good'], // overlaps the positive at (0,1): neither there
      ['z', [[1, 1], [1, 1]], 'good'], // no positive map
    ]));
    fs.writeFileSync(path.join(d, 'attention_label', 'notes.txt'), 'not a csv');
    const set = loadResLabels(d)!;
    expect([...set.maps.keys()].sort()).toEqual(['a.jpg', 'c.jpg']);
    expect(set.maps.get('a.jpg')).toEqual({ h: 2, w: 2, data: Uint8Array.from([255, 0, 0, 0]), negative: Uint8Array.from([0, 0, 255, 0]) });
    expect(set.maps.get('c.jpg')).toEqual({ h: 2, w: 2, data: Uint8Array.from([0, 255, 255, 0]) });
    expect(set.files.map((f) => path.basename(f))).toEqual(['gender_counterfactual.csv', 'gender_pos.csv']);
    expect(set.warnings.join('\n')).toMatch(/1 counterfactual map has no positive map \(e\.g\. z\.jpg\)/);
    expect(loadResLabels(path.join(tmp, 'nowhere'))).toBeNull();
  });
  test('malformed files: one line naming the file and the problem', () => {
    const cases: [string, RegExp][] = [
      ['img_idx,attention\na,"[[1]]"\n', /header has no img_check column/],
      ['', /empty/],
      [csv([['a', '[[1, 0], [1]]', 'good']]), /line 2 \(img_idx "a"\): attention row 1 has 1 values, row 0 has 2/],
      [csv([['a', '[[1, 2]]', 'good']]), /attention\[0\]\[1\] = 2 is not a number in \[0, 1\]/],
      [csv([['a', '[[1, -1]]', 'good']]), /attention\[0\]\[1\] = -1 is not a number in \[0, 1\]/],
      [csv([['a', 'nope', 'good']]), /line 2 .*attention is not a JSON list/],
      [csv([['a', '[1, 0]', 'good']]), /non-empty 2-D list/],
      [csv([['x/a', '[[1]]', 'good']]), /img_idx must name an image file/],
      ['img_idx,attention,img_check\na,"[[1]],good\n', /line 2: a quoted field is never closed/],
      ['img_idx,attention,img_check\na,[[1]],good,extra\n', /line 2: 4 fields, the header has 3/],
      ['img_idx,attention,img_check\na,x"y,good\n', /line 2: a quote inside an unquoted field/],
    ];
    for (const [content, re] of cases) {
      const f = file(content, 'labels.csv');
      const e = inputError(() => readResCsv(f));
      expect(e.file).toBe(f);
      expect(e.problem).toMatch(re);
    }
    // a bad map in a row that is not 'good' is never read (RES does not parse it)
    expect(readResCsv(file(csv([['a', 'nope', 'bad']]), 'labels.csv')).skipped).toBe(1);
  });
  test('counterfactual of another size than its positive map is an error naming the counterfactual file', () => {
    const d = path.join(tmp, 'res2');
    fs.mkdirSync(path.join(d, 'attention_label'), { recursive: true });
    fs.writeFileSync(path.join(d, 'attention_label', 'p.csv'), csv([['a', [[1, 1]], 'good']]));
    const cf = path.join(d, 'attention_label', 'p_counterfactual.csv');
    fs.writeFileSync(cf, csv([['a', [[1], [1]], 'good']]));
    const e = inputError(() => loadResLabels(d));
    expect(e.file).toBe(cf);
    expect(e.problem).toMatch(/a\.jpg: counterfactual map is 2x1, its positive map in .*p\.csv is 1x2/);
  });
});

describe('label budget draw', () => {
  const cands = Array.from({ length: 50 }, (_, i) => ({ fileName: `img_${String(i).padStart(3, '0')}.png`, label: i % 5 === 0 ? 1 : 0 })); // 40 of class 0, 10 of class 1
  const picked = (keep: Set<number>, list = cands) => [...keep].map((i) => list[i]!.fileName).sort();
  test('balanced: N per class, each kept one a candidate of its class', () => {
    const d = drawLabelBudget(cands, 2, { perClass: 4, seed: 7 });
    expect(d.counts).toEqual([{ available: 40, kept: 4 }, { available: 10, kept: 4 }]);
    const kept = [...d.keep];
    expect(kept.filter((i) => cands[i]!.label === 0)).toHaveLength(4);
    expect(kept.filter((i) => cands[i]!.label === 1)).toHaveLength(4);
  });
  test('reproducible, independent of the candidates\' order, and different seeds differ', () => {
    const a = picked(drawLabelBudget(cands, 2, { perClass: 4, seed: 7 }).keep);
    expect(picked(drawLabelBudget(cands, 2, { perClass: 4, seed: 7 }).keep)).toEqual(a);
    const reversed = [...cands].reverse();
    expect(picked(drawLabelBudget(reversed, 2, { perClass: 4, seed: 7 }).keep, reversed)).toEqual(a);
    const others = [0, 1, 2, 3].map((seed) => picked(drawLabelBudget(cands, 2, { perClass: 4, seed }).keep).join());
    expect(new Set([...others, a.join()]).size).toBe(5);
  });
  test('every candidate is drawn about equally often over seeds (no fixed favourites)', () => {
    const hits = new Map<number, number>(cands.flatMap((c, i) => (c.label === 0 ? [[i, 0] as [number, number]] : [])));
    for (let seed = 0; seed < 400; seed++) for (const i of drawLabelBudget(cands, 2, { perClass: 4, seed }).keep) if (hits.has(i)) hits.set(i, hits.get(i)! + 1);
    // expected 400 * 4 / 40 = 40 each; a fixed or order-biased draw would give 0 or 400
    expect(Math.min(...hits.values())).toBeGreaterThan(15);
    expect(Math.max(...hits.values())).toBeLessThan(70);
  });
  test('N larger than a class has: all of that class kept', () => {
    const d = drawLabelBudget(cands, 2, { perClass: 25, seed: 1 });
    expect(d.counts).toEqual([{ available: 40, kept: 25 }, { available: 10, kept: 10 }]);
    expect(d.keep.size).toBe(35);
  });
});

describe('training and evaluation sets with negative labels and a budget (generated data)', () => {
  const dir = path.join(tmp, 'gen');
  const small = { seed: 3, train: 8, val: 20, test: 6, size: 96, spurious: 0.95 };
  beforeAll(async () => {
    await generateDataSet({ out: dir, ...small, negatives: true });
  }, 60_000);

  test('make-data --negative-maps: -1 exactly on the context patch outside the silhouette, positives as without', async () => {
    const m = readAttentionFile(path.join(dir, 'attention_val.json'));
    const plan = planSplit(small.seed, 'val', small.val, small.spurious);
    for (const [i, p] of plan.entries()) {
      const s = renderSample(p.seed, small.size, p.label, p.cue);
      const map = m.get(`val_${String(i).padStart(5, '0')}.png`)!;
      expect(Array.from(map.data)).toEqual(Array.from(s.human, (v) => v * 255));
      expect(Array.from(map.negative!)).toEqual(Array.from(s.context, (v, k) => (v && !s.human[k] ? 255 : 0)));
    }
    // without the option the marker records the same options as before the option existed
    const plain = path.join(tmp, 'gen-plain');
    await generateDataSet({ out: plain, ...small });
    const marker = JSON.parse(fs.readFileSync(path.join(plain, '.gradia-generated.json'), 'utf8')) as { params: Record<string, unknown> };
    expect(Object.keys(marker.params).sort()).toEqual(['seed', 'size', 'spurious', 'test', 'train', 'val', 'version']);
    expect('negative' in readAttentionFile(path.join(plain, 'attention_val.json')).get('val_00000.png')!).toBe(false);
  }, 60_000);

  test('res targets hold -1s, gradia targets stay in [0, 1]; full masks at the input size', async () => {
    const res = await buildTrainSet(dir, { phase: 2, reasonability: false, grid: 3, targets: 'res', fullMask: true, checkImages: false });
    const labelled = res.samples.filter((s) => s.target);
    expect(labelled.length).toBeGreaterThan(3);
    expect(labelled.some((s) => Array.from(s.target!).includes(-1))).toBe(true);
    for (const s of labelled) {
      expect(Array.from(s.target!).every((v) => v === -1 || v === 0 || v === 1)).toBe(true);
      expect(s.fullMask!.length).toBe(96 * 96);
    }
    const gradia = await buildTrainSet(dir, { phase: 2, reasonability: false, grid: 3, checkImages: false });
    for (const s of gradia.samples) {
      expect(s.fullMask).toBeUndefined();
      if (s.target) expect(Math.min(...s.target)).toBeGreaterThanOrEqual(0);
    }
  });

  test('--label-budget keeps N maps per class, the rest unlabelled; reproducible; warns when short', async () => {
    const opts = { phase: 2 as const, reasonability: false, grid: 3, checkImages: false };
    const all = await buildTrainSet(dir, opts);
    const nAll = all.samples.filter((s) => s.target).length;
    const a = await buildTrainSet(dir, { ...opts, labelBudget: { perClass: 3, seed: 5 } });
    const kept = a.samples.filter((s) => s.target);
    expect(kept).toHaveLength(6);
    expect(kept.filter((s) => s.label === 0)).toHaveLength(3);
    expect(a.samples).toHaveLength(all.samples.length);
    for (const s of a.samples) if (!s.target) expect([s.predWeight, s.attWeight]).toEqual([1, 0]);
    expect(a.budget!.map((c) => c.kept)).toEqual([3, 3]);
    const again = await buildTrainSet(dir, { ...opts, labelBudget: { perClass: 3, seed: 5 } });
    expect(again.samples.filter((s) => s.target).map((s) => s.fileName)).toEqual(kept.map((s) => s.fileName));
    const big = await buildTrainSet(dir, { ...opts, labelBudget: { perClass: 100, seed: 5 } });
    expect(big.samples.filter((s) => s.target)).toHaveLength(nAll);
    expect(big.warnings.join('\n')).toMatch(/--label-budget 100: circle has \d+, cross has \d+; all of those are kept/);
  });

  test('CSV labels alone make a phase-2 set; the fingerprint sees them; eval maps carry negatives', async () => {
    const d = path.join(tmp, 'gen-csv');
    fs.cpSync(path.join(dir, 'gender_data'), path.join(d, 'gender_data'), { recursive: true });
    const json = readAttentionFile(path.join(dir, 'attention_val.json'));
    const rows = (neg: boolean): [string, number[][], string][] => [...json].map(([k, m]) => [k.replace(/\.png$/, '.png'), Array.from({ length: m.h }, (_, y) => Array.from({ length: m.w }, (_, x) => ((neg ? m.negative! : m.data)[y * m.w + x]! ? 1 : 0))), 'good']);
    fs.mkdirSync(path.join(d, 'attention_label'));
    fs.writeFileSync(path.join(d, 'attention_label', 'val.csv'), csv(rows(false)));
    const before = datasetFingerprint(d);
    fs.writeFileSync(path.join(d, 'attention_label', 'val_counterfactual.csv'), csv(rows(true)));
    expect(datasetFingerprint(d)).not.toBe(before);
    const fromCsv = await buildTrainSet(d, { phase: 2, reasonability: false, grid: 3, targets: 'res', checkImages: false });
    const fromJson = await buildTrainSet(dir, { phase: 2, reasonability: false, grid: 3, targets: 'res', checkImages: false });
    expect(fromCsv.samples.map((s) => s.target && Array.from(s.target))).toEqual(fromJson.samples.map((s) => s.target && Array.from(s.target)));
    const ev = await buildEvalSet(d, 'val', { checkImages: false });
    const withNeg = ev.samples.filter((s) => s.humanMap?.negative);
    expect(withNeg.length).toBeGreaterThan(0);
    // no attention_test.json, and the CSV has no test image: no maps, no "missing" warning
    const test = await buildEvalSet(d, 'test', { checkImages: false });
    expect(test.samples.every((s) => s.humanMap === null)).toBe(true);
    expect(test.warnings.join('\n')).not.toMatch(/missing/);
  });
});
