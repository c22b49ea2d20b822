// The original layout scan and the phase data sets: every rule and bad-input case of issue 3.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkImages, scanLayout } from '../src/data/layout.js';
import { buildEvalSet, buildTrainSet, datasetFingerprint } from '../src/data/phase_dataset.js';
import { GradiaInputError } from '../src/util/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-layout-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let PNG: Buffer;
let JPG: Buffer;
beforeAll(async () => {
  const raw = Buffer.alloc(8 * 8 * 3, 90);
  PNG = await sharp(raw, { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer();
  JPG = await sharp(raw, { raw: { width: 8, height: 8, channels: 3 } }).jpeg().toBuffer();
});

let n = 0;
/** files: relative path -> content ('png' / 'jpg' = a small image, object = JSON) */
function make(files: Record<string, unknown>): string {
  const d = path.join(tmp, `ds${n++}`);
  for (const [k, v] of Object.entries(files)) {
    const p = path.join(d, k);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (k.endsWith('/')) continue;
    fs.writeFileSync(p, v === 'png' ? PNG : v === 'jpg' ? JPG : typeof v === 'string' ? v : JSON.stringify(v));
  }
  return d;
}
const map1 = (h = 14, w = 14) => Array.from({ length: h }, (_, y) => Array.from({ length: w }, (_, x) => (y < h / 2 && x < w / 2 ? 1 : 0)));
/** a valid data set: 2 classes, train 2+2, val 2+1, test 1+1 */
function base(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'gender_data/train/female/t1.jpg': 'jpg',
    'gender_data/train/female/t2.png': 'png',
    'gender_data/train/male/t3.png': 'png',
    'gender_data/train/male/sub/t4.png': 'png',
    'gender_data/val/female/v1.png': 'png',
    'gender_data/val/female/v2.png': 'png',
    'gender_data/val/male/v3.png': 'png',
    'gender_data/test/female/s1.png': 'png',
    'gender_data/test/male/s2.png': 'png',
    'attention_val.json': [
      { img: 'gender_data/val/female/v1.png', attention: map1() },
      { img: 'v2.png', attention: map1(20, 10) },
      { img: 'v3.png', attention: map1() },
    ],
    'attention_val_update.json': [],
    'attention_val_remove.json': [],
    'attention_test.json': [{ img: 's1.png', attention: map1() }, { img: 's2.png', attention: map1(7, 7) }],
    'reasonablity_val.json': { 'v1.png': 'Unreasonable Accurate', 'v2.png': 'Reasonable Accurate', 'v3.png': 'Reasonable Inaccurate' },
    ...extra,
  };
}
async function expectInputError(p: Promise<unknown> | (() => unknown), file: string, problem: RegExp): Promise<void> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err, `expected GradiaInputError ${problem}`).toBeInstanceOf(GradiaInputError);
  const g = err as GradiaInputError;
  expect(g.file).toBe(file);
  expect(g.problem).toMatch(problem);
  expect(g.message).not.toContain('\n');
}
const P2 = { phase: 2 as const, reasonability: false, grid: 7 };

describe('layout scan', () => {
  test('classes = sorted folder names, labels = index, ImageFolder order, recursive, any sharp format', () => {
    const d = make(base());
    const s = scanLayout(d);
    expect(s.classes).toEqual(['female', 'male']);
    expect(s.splits.train!.images.map((i) => [i.fileName, i.label])).toEqual([
      ['t1.jpg', 0],
      ['t2.png', 0],
      ['t3.png', 1],
      ['t4.png', 1],
    ]);
    expect(s.warnings).toEqual([]);
  });
  test('non-image files are skipped with a warning and a count', () => {
    const d = make(base({ 'gender_data/train/male/notes.txt': 'x', 'gender_data/train/male/.DS_Store': 'x', 'gender_data/train/README': 'x' }));
    const s = scanLayout(d);
    expect(s.splits.train!.images).toHaveLength(4);
    expect(s.warnings).toEqual([expect.stringMatching(/train: 1 file outside the class folders ignored/), expect.stringMatching(/train: 2 non-image files skipped/)]);
  });
  test('missing data dir, gender_data, or split folder', async () => {
    await expectInputError(() => scanLayout(path.join(tmp, 'nope')), path.join(tmp, 'nope'), /data directory does not exist/);
    const d = make({ 'x.txt': 'x' });
    await expectInputError(() => scanLayout(d), path.join(d, 'gender_data'), /missing/);
    const files = base();
    delete files['gender_data/test/female/s1.png'];
    delete files['gender_data/test/male/s2.png'];
    const e = make(files);
    await expectInputError(() => scanLayout(e), path.join(e, 'gender_data', 'test'), /missing: the test split folder/);
  });
  test('a split without class folders', async () => {
    const d = make(base());
    fs.rmSync(path.join(d, 'gender_data/test'), { recursive: true });
    fs.mkdirSync(path.join(d, 'gender_data/test'));
    await expectInputError(() => scanLayout(d), path.join(d, 'gender_data', 'test'), /no class folders/);
  });
  test('a class folder without images', async () => {
    const d = make(base({ 'gender_data/val/male/readme.txt': 'no images here' }));
    fs.rmSync(path.join(d, 'gender_data/val/male/v3.png'));
    await expectInputError(() => scanLayout(d), path.join(d, 'gender_data', 'val', 'male'), /class folder has no images/);
  });
  test('class folders that differ from train, and a single class', async () => {
    const d = make(base({ 'gender_data/test/other/s3.png': 'png' }));
    await expectInputError(() => scanLayout(d), path.join(d, 'gender_data', 'test'), /class folders \[female, male, other\] differ from train's \[female, male\]/);
    const e = make({ 'gender_data/train/only/a.png': 'png' });
    await expectInputError(() => scanLayout(e), path.join(e, 'gender_data', 'train'), /only one class folder/);
  });
  test('the same file name in two classes is rejected', async () => {
    const d = make(base({ 'gender_data/train/male/t1.jpg': 'jpg' }));
    await expectInputError(() => scanLayout(d), path.join(d, 'gender_data', 'train', 'male', 't1.jpg'), /same file name as .*female\/t1\.jpg/);
  });
  test('an unreadable image is an error naming it, before training', async () => {
    const d = make(base({ 'gender_data/train/male/bad.png': 'this is not a png' }));
    await expectInputError(buildTrainSet(d, { phase: 1, reasonability: false, grid: 7 }), path.join(d, 'gender_data', 'train', 'male', 'bad.png'), /unreadable or corrupt image/);
    await expectInputError(checkImages([{ path: path.join(d, 'gender_data/train/male/bad.png') }]), path.join(d, 'gender_data', 'train', 'male', 'bad.png'), /unreadable/);
  });
});

describe('phase data sets', () => {
  test('phase 1: the train split, no maps, weights (1, 0)', async () => {
    const t = await buildTrainSet(make(base()), { phase: 1, reasonability: false, grid: 7 });
    expect(t.source).toBe('train');
    expect(t.samples).toHaveLength(4);
    expect(t.samples.every((s) => s.target === null && s.predWeight === 1 && s.attWeight === 0)).toBe(true);
  });
  test('phase 2 without p2_train: train + val, maps from the val files, weights by label', async () => {
    const t = await buildTrainSet(make(base()), P2);
    expect(t.source).toBe('train+val');
    expect(t.samples.map((s) => s.fileName)).toEqual(['t1.jpg', 't2.png', 't3.png', 't4.png', 'v1.png', 'v2.png', 'v3.png']);
    const by = Object.fromEntries(t.samples.map((s) => [s.fileName, s]));
    expect(by['t1.jpg'].target).toBeNull();
    expect([by['v1.png'].predWeight, by['v1.png'].attWeight]).toEqual([0.4, 1.6]);
    expect([by['v2.png'].predWeight, by['v2.png'].attWeight]).toEqual([1, 0]); // Reasonable Accurate: default
    expect([by['v3.png'].predWeight, by['v3.png'].attWeight]).toEqual([0.8, 0.2]);
    expect(by['v1.png'].target).toHaveLength(49);
    // the map marks the top-left quarter
    expect(by['v1.png'].target![0]).toBe(1);
    expect(by['v1.png'].target![48]).toBe(0);
    expect(by['v2.png'].target).not.toBeNull(); // a 20x10 map is fine
    expect(t.warnings).toEqual([]);
  });
  test('--reasonability drops Reasonable Accurate maps and needs the file', async () => {
    const t = await buildTrainSet(make(base()), { ...P2, reasonability: true });
    const v2 = t.samples.find((s) => s.fileName === 'v2.png')!;
    expect(v2.target).toBeNull();
    expect(t.samples.find((s) => s.fileName === 'v1.png')!.target).not.toBeNull();
    expect(t.warnings).toEqual([expect.stringMatching(/1 'Reasonable Accurate' map dropped/)]);
    const files = base();
    delete files['reasonablity_val.json'];
    const d = make(files);
    await expectInputError(buildTrainSet(d, { ...P2, reasonability: true }), path.join(d, 'reasonablity_val.json'), /missing/);
    // without the flag, a missing file just means no labels
    const u = await buildTrainSet(d, P2);
    expect(u.samples.filter((s) => s.target !== null).every((s) => s.attWeight === 0)).toBe(true);
  });
  test('phase 2 uses p2_train when present', async () => {
    const t = await buildTrainSet(make(base({ 'gender_data/p2_train/female/t1.jpg': 'jpg', 'gender_data/p2_train/female/v1.png': 'png', 'gender_data/p2_train/male/t3.png': 'png' })), P2);
    expect(t.source).toBe('p2_train');
    expect(t.samples.map((s) => [s.fileName, s.label, s.target !== null])).toEqual([
      ['t1.jpg', 0, false],
      ['v1.png', 0, true],
      ['t3.png', 1, false],
    ]);
  });
  test('phase 2 from train + val rejects a file name in both', async () => {
    const d = make(base({ 'gender_data/val/male/t1.jpg': 'jpg' }));
    await expectInputError(buildTrainSet(d, P2), path.join(d, 'gender_data', 'val', 'male', 't1.jpg'), /same file name as .*train.*t1\.jpg/);
  });
  test('an all-zero map is skipped with a warning naming the file', async () => {
    const zero = Array.from({ length: 14 }, () => new Array(14).fill(0));
    const t = await buildTrainSet(make(base({ 'attention_val.json': [{ img: 'v1.png', attention: zero }, { img: 'v3.png', attention: map1() }] })), P2);
    const v1 = t.samples.find((s) => s.fileName === 'v1.png')!;
    expect(v1.target).toBeNull();
    expect([v1.predWeight, v1.attWeight]).toEqual([1, 0]);
    expect(t.warnings).toEqual([expect.stringMatching(/^v1\.png: all-zero attention map/)]);
    const ev = await buildEvalSet(make(base({ 'attention_test.json': [{ img: 's1.png', attention: zero }] })), 'test');
    expect(ev.samples.map((s) => s.humanMap)).toEqual([null, null]);
    expect(ev.warnings).toEqual([expect.stringMatching(/s1\.png: all-zero human attention map/)]);
  });
  test('label entries naming no image: some -> warning with a count, all -> error', async () => {
    const t = await buildTrainSet(make(base({ 'attention_val.json': [{ img: 'v1.png', attention: map1() }, { img: 'ghost.png', attention: map1() }, { img: 'ghost2.png', attention: map1() }] })), P2);
    expect(t.warnings).toEqual([expect.stringMatching(/attention_val\.json: 2 of 3 entries name no image of the validation split \(e\.g\. ghost\.png\)/)]);
    const d = make(base({ 'attention_val.json': [{ img: 'ghost.png', attention: map1() }] }));
    await expectInputError(buildTrainSet(d, P2), path.join(d, 'attention_val.json'), /none of its 1 entries names an image/);
    const r = make(base({ 'reasonablity_val.json': { 'ghost.png': 'Reasonable Accurate', 'v1.png': 'Reasonable Accurate' } }));
    expect((await buildTrainSet(r, P2)).warnings).toEqual([expect.stringMatching(/reasonablity_val\.json: 1 of 2 entries name no image/)]);
    const e = make(base({ 'attention_test.json': [{ img: 'v1.png', attention: map1() }] }));
    await expectInputError(buildEvalSet(e, 'test'), path.join(e, 'attention_test.json'), /none of its 1 entries names an image of the test split/);
  });
  test('bad label files stop phase 2 before training', async () => {
    const d = make(base({ 'attention_val.json': '[{"img": "v1.png", "attention": [[1, 0], [0]]}]' }));
    await expectInputError(buildTrainSet(d, P2), path.join(d, 'attention_val.json'), /v1\.png.*rectangular/);
    const e = make(base({ 'attention_val_update.json': '[{"img": "v1.png", "attention": [[1, "a"]]}]' }));
    await expectInputError(buildTrainSet(e, P2), path.join(e, 'attention_val_update.json'), /not a number/);
    const f = make(base({ 'reasonablity_val.json': { 'v1.png': 'Sort of reasonable' } }));
    await expectInputError(buildTrainSet(f, P2), path.join(f, 'reasonablity_val.json'), /unknown label "Sort of reasonable" for v1\.png/);
    const g = make(base({ 'attention_val_remove.json': '[{"img": ' }));
    await expectInputError(buildTrainSet(g, P2), path.join(g, 'attention_val_remove.json'), /not valid JSON/);
  });
  test('grid 2 warns that the blurred targets are constant', async () => {
    const t = await buildTrainSet(make(base()), { ...P2, grid: 2 });
    expect(t.warnings.some((w) => /grid 2x2/.test(w))).toBe(true);
  });
  test('eval sets: val maps (update/remove applied, no reasonability filter) and test maps', async () => {
    const d = make(base({ 'attention_val_remove.json': ['v3.png'] }));
    const v = await buildEvalSet(d, 'val');
    expect(v.samples.map((s) => [s.fileName, s.label, s.humanMap?.h ?? null])).toEqual([
      ['v1.png', 0, 14],
      ['v2.png', 0, 20],
      ['v3.png', 1, null],
    ]);
    const t = await buildEvalSet(d, 'test');
    expect(t.classes).toEqual(['female', 'male']);
    expect(t.samples.map((s) => [s.fileName, s.humanMap?.w ?? null])).toEqual([
      ['s1.png', 14],
      ['s2.png', 7],
    ]);
  });
  test('fingerprint changes with images, labels and label files', async () => {
    const d = make(base());
    const f0 = datasetFingerprint(d);
    expect(datasetFingerprint(d)).toBe(f0);
    expect(f0).toMatch(/^[0-9a-f]{16}$/);
    fs.writeFileSync(path.join(d, 'reasonablity_val.json'), '{}');
    const f1 = datasetFingerprint(d);
    expect(f1).not.toBe(f0);
    fs.renameSync(path.join(d, 'gender_data/test/male/s2.png'), path.join(d, 'gender_data/test/male/s3.png'));
    const f2 = datasetFingerprint(d);
    expect(f2).not.toBe(f1);
    fs.mkdirSync(path.join(d, 'gender_data/test/female/x'));
    fs.renameSync(path.join(d, 'gender_data/test/male/s3.png'), path.join(d, 'gender_data/test/female/x/s3.png'));
    fs.writeFileSync(path.join(d, 'gender_data/test/male/s4.png'), PNG);
    expect(datasetFingerprint(d)).not.toBe(f2);
  });
});
