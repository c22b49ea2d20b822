// Issue 11, the data layer under real use: make-data never deletes what it did not write,
// the layout scan enters each real folder once, and hostile label files or file names get
// one line naming the file.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readHumanAssessment } from '../src/data/assess.js';
import { readAttentionFile } from '../src/data/attention.js';
import { generateDataSet } from '../src/data/generator.js';
import { checkImages, scanLayout } from '../src/data/layout.js';
import { buildTrainSet } from '../src/data/phase_dataset.js';
import { readReasonability } from '../src/data/reasonability.js';
import { GradiaInputError } from '../src/util/errors.js';
import { runCli } from './helpers/cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-hostile-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string): string => path.join(tmp, `${name}${n++}`);

async function inputError(p: Promise<unknown> | (() => unknown)): Promise<GradiaInputError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(GradiaInputError);
    expect((e as Error).message).not.toMatch(/[\n\r]/);
    return e as GradiaInputError;
  }
  throw new Error('expected a GradiaInputError, got none');
}

/** The marker of `d`, with the judgements file dropped from its list when `dropJudgements`. */
function marker(d: string, dropJudgements = false): { params: unknown; files: Record<string, string[]> } {
  const m = JSON.parse(fs.readFileSync(path.join(d, MARKER), 'utf8')) as { params: unknown; files: Record<string, string[]> };
  if (dropJudgements) delete m.files['reasonablity_val.json'];
  return m;
}

/** path -> sha256 of every file under d (links not followed), hidden files included */
function tree(d: string, opts: { skip?: string[] } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string): void => {
    for (const e of fs.readdirSync(p, { withFileTypes: true })) {
      const q = path.join(p, e.name);
      const rel = path.relative(d, q).split(path.sep).join('/');
      if (opts.skip?.includes(rel)) continue;
      if (e.isDirectory()) walk(q);
      else out[rel] = crypto.createHash('sha256').update(fs.readFileSync(q)).digest('hex');
    }
  };
  walk(d);
  return out;
}

const SMALL = { seed: 5, train: 8, val: 4, test: 4, size: 32, spurious: 0.9 };
const MARKER = '.gradia-generated.json';

describe('make-data never deletes what it did not write', () => {
  /** what a user has after `train` and `assess` on a generated set */
  function addUserFiles(d: string): Record<string, string> {
    fs.mkdirSync(path.join(d, 'model_save'));
    fs.writeFileSync(path.join(d, 'model_save', 'model_out.safetensors'), crypto.randomBytes(300));
    fs.writeFileSync(path.join(d, 'model_save', 'model_out.json'), '{"arch":"tiny18"}\n');
    fs.mkdirSync(path.join(d, 'results', 'phase1'), { recursive: true });
    fs.writeFileSync(path.join(d, 'results', 'phase1', 'IOU.json'), '{}');
    const val = fs.readdirSync(path.join(d, 'gender_data', 'val', 'circle'))[0];
    fs.writeFileSync(path.join(d, 'reasonablity_val.json'), JSON.stringify({ [val]: 'Unreasonable Accurate' }));
    return tree(d, { skip: ['gender_data', MARKER, 'attention_val.json', 'attention_test.json', 'attention_val_update.json', 'attention_val_remove.json'] });
  }

  test('over its own output with other options: replaces only its own files, keeps the model dir, results and assessed labels', async () => {
    const d = fresh('g');
    expect((await generateDataSet({ out: d, ...SMALL })).replaced).toBe(false);
    const mine = addUserFiles(d);
    const oracle = fresh('oracle'); // the new options written into a new folder
    const other = { ...SMALL, seed: 6, train: 6 };
    await generateDataSet({ out: oracle, ...other });

    const s = await generateDataSet({ out: d, ...other });
    expect(s.reused).toBe(false);
    expect(s.replaced).toBe(true);
    expect(s.kept).toEqual(['reasonablity_val.json']);
    const after = tree(d);
    for (const [f, h] of Object.entries(mine)) expect(after[f], f).toBe(h); // user files byte for byte
    // everything else is exactly the new set: old images gone (train 8 -> 6), nothing left over
    const expected = tree(oracle, { skip: ['reasonablity_val.json', MARKER] });
    const rest = Object.fromEntries(Object.entries(after).filter(([f]) => !(f in mine) && f !== MARKER));
    expect(rest).toEqual(expected);
    // the marker lists the new set's files, less the labels file it no longer owns
    expect(marker(d)).toEqual(marker(oracle, true));
    // and it loads as the new set
    const p1 = await buildTrainSet(d, { phase: 1, reasonability: false, grid: 1, checkImages: false });
    expect(p1.samples).toHaveLength(6);

    // same options again: reused, nothing touched
    const again = await generateDataSet({ out: d, ...other });
    expect(again.reused).toBe(true);
    expect(tree(d)).toEqual(after);
  });

  test('an image of its own that a user changed is never overwritten: refused before anything changes', async () => {
    const d = fresh('g');
    await generateDataSet({ out: d, ...SMALL });
    // the same seed and counts with another --spurious write the same paths (the plan's shuffle does not depend on it)
    const cls = path.join(d, 'gender_data', 'train', 'circle');
    const victim = path.join(cls, fs.readdirSync(cls).sort()[0]);
    fs.writeFileSync(victim, 'edited by hand');
    const before = tree(d);
    const e = await inputError(generateDataSet({ out: d, ...SMALL, spurious: 0.5 }));
    expect(e.file).toBe(victim);
    expect(e.problem).toMatch(/in the way of a file make-data writes/);
    expect(tree(d)).toEqual(before);
  });

  test('a foreign non-empty folder is refused, through the CLI too (one line, exit 2)', async () => {
    const d = fresh('user');
    fs.mkdirSync(path.join(d, 'model_save'), { recursive: true });
    fs.writeFileSync(path.join(d, 'model_save', 'model_out.safetensors'), 'weights');
    fs.writeFileSync(path.join(d, 'reasonablity_val.json'), '{"a.png": "Reasonable Accurate"}');
    const before = tree(d);
    const e = await inputError(generateDataSet({ out: d, ...SMALL }));
    expect(e.file).toBe(d);
    expect(e.problem).toMatch(/not empty and was not written by make-data/);
    expect(tree(d)).toEqual(before);
    const r = runCli(['make-data', '--out', d, '--train', '4', '--val', '2', '--test', '2', '--size', '32']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([`gradia-dist: ${d}: exists, is not empty and was not written by make-data; choose an empty or new folder`]);
    expect(tree(d)).toEqual(before);
  });

  test('a folder of the earlier marker format (no file list): its files are derived from the options', async () => {
    const d = fresh('v1');
    await generateDataSet({ out: d, ...SMALL });
    const m = JSON.parse(fs.readFileSync(path.join(d, MARKER), 'utf8')) as Record<string, unknown>;
    delete m.files;
    fs.writeFileSync(path.join(d, MARKER), JSON.stringify(m));
    const mine = addUserFiles(d);
    // same options (the demo re-run on a folder of an earlier version): reused, nothing touched
    const before = tree(d);
    expect((await generateDataSet({ out: d, ...SMALL })).reused).toBe(true);
    expect(tree(d)).toEqual(before);
    const oracle = fresh('oracle');
    await generateDataSet({ out: oracle, ...SMALL, seed: 9 });
    const s = await generateDataSet({ out: d, ...SMALL, seed: 9 });
    expect(s.kept).toEqual(['reasonablity_val.json']);
    const after = tree(d);
    for (const [f, h] of Object.entries(mine)) expect(after[f], f).toBe(h);
    expect(Object.fromEntries(Object.entries(after).filter(([f]) => !(f in mine) && f !== MARKER))).toEqual(tree(oracle, { skip: ['reasonablity_val.json', MARKER] }));
    expect(marker(d)).toEqual(marker(oracle, true));
  });

  test('a run stopped half way through the swap is finished by the next run (either options), user files kept', async () => {
    const oldSet = fresh('oracleA');
    const newSet = fresh('oracleB');
    await generateDataSet({ out: oldSet, ...SMALL });
    await generateDataSet({ out: newSet, ...SMALL, seed: 8, train: 6 });
    for (const target of [SMALL, { ...SMALL, seed: 8, train: 6 }]) {
      const d = fresh('half');
      await generateDataSet({ out: d, ...SMALL });
      fs.writeFileSync(path.join(d, 'notes.txt'), 'mine');
      // the state the swap leaves when killed after its first marker and some of the renames:
      // a marker owning old and new bytes, every other new file moved in, old train 6 and 7 removed
      const a = marker(oldSet);
      const b = marker(newSet);
      const during: Record<string, string[]> = {};
      for (const [f, h] of Object.entries(a.files)) during[f] = [...h];
      for (const [f, h] of Object.entries(b.files)) during[f] = [...new Set([...(during[f] ?? []), ...h])];
      fs.writeFileSync(path.join(d, MARKER), JSON.stringify({ params: null, files: during }));
      Object.keys(b.files).filter((_, i) => i % 2 === 0).forEach((f) => fs.copyFileSync(path.join(newSet, f), path.join(d, f)));
      for (const f of Object.keys(a.files)) if (!(f in b.files) && f.includes('train_0000')) fs.rmSync(path.join(d, f));
      const s = await generateDataSet({ out: d, ...target });
      expect(s.reused).toBe(false);
      const want = target.seed === 8 ? newSet : oldSet;
      const { 'notes.txt': notes, ...rest } = tree(d);
      expect(notes).toBe(crypto.createHash('sha256').update('mine').digest('hex'));
      expect(rest).toEqual(tree(want));
    }
  });

  test('temporary folders of killed runs beside --out are removed, unless they hold anything make-data does not write', async () => {
    const d = fresh('tmpd');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // exited: its pid is free
    const killed = `${d}.tmp-${dead}`;
    fs.mkdirSync(path.join(killed, 'gender_data', 'train', 'circle'), { recursive: true });
    fs.writeFileSync(path.join(killed, 'attention_val.json'), '[]');
    const foreign = `${d}.tmp-${dead + 1}`;
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'notes.txt'), 'mine');
    const alive = `${d}.tmp-${process.ppid}`; // a running process: maybe another make-data
    fs.mkdirSync(alive);
    await generateDataSet({ out: d, ...SMALL });
    expect(fs.existsSync(killed)).toBe(false);
    expect(fs.readFileSync(path.join(foreign, 'notes.txt'), 'utf8')).toBe('mine');
    expect(fs.existsSync(alive)).toBe(true);
  });

  test('a write that fails while rendering names the file and says the folder was not changed', async () => {
    const f = fresh('plainfile');
    fs.writeFileSync(f, 'x');
    const out = path.join(f, 'G'); // its parent is a file: ENOTDIR
    const e = await inputError(generateDataSet({ out, ...SMALL }));
    expect(e.file).toBe(path.join(`${out}.tmp-${process.pid}`, 'gender_data', 'train', 'circle')); // the path that failed
    expect(e.problem).toBe(`could not write the data set (ENOTDIR); ${out} was not changed`);
  });

  test('a marker naming a path outside the folder is refused, and nothing outside is touched', async () => {
    const d = fresh('g');
    await generateDataSet({ out: d, ...SMALL });
    const outside = path.join(tmp, `outside${n++}.txt`);
    fs.writeFileSync(outside, 'keep me');
    const m = JSON.parse(fs.readFileSync(path.join(d, MARKER), 'utf8')) as { files: Record<string, string[]> };
    m.files[`../${path.basename(outside)}`] = [crypto.createHash('sha256').update('keep me').digest('hex')];
    fs.writeFileSync(path.join(d, MARKER), JSON.stringify(m));
    const e = await inputError(generateDataSet({ out: d, ...SMALL, seed: 1 }));
    expect(e.file).toBe(path.join(d, MARKER));
    expect(fs.readFileSync(outside, 'utf8')).toBe('keep me');
  });
});

describe('layout scan and symbolic links', () => {
  let png: Buffer;
  beforeAll(async () => {
    png = await sharp(Buffer.alloc(8 * 8 * 3, 70), { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer();
  });
  function dataSet(): string {
    const d = fresh('links');
    for (const f of ['train/a/1.png', 'train/a/2.png', 'train/b/3.png', 'val/a/4.png', 'val/b/5.png', 'test/a/6.png', 'test/b/7.png']) {
      fs.mkdirSync(path.dirname(path.join(d, 'gender_data', f)), { recursive: true });
      fs.writeFileSync(path.join(d, 'gender_data', f), png);
    }
    return d;
  }

  test('two links to "." in a class folder: each real folder is scanned once, the links are named in a warning', () => {
    const d = dataSet();
    const cls = path.join(d, 'gender_data', 'train', 'a');
    fs.symlinkSync('.', path.join(cls, 'x'));
    fs.symlinkSync('.', path.join(cls, 'y'));
    const scan = scanLayout(d); // before the fix: ~2^40 folders, no end
    expect(scan.splits.train!.images.map((i) => path.relative(d, i.path))).toEqual(['gender_data/train/a/1.png', 'gender_data/train/a/2.png', 'gender_data/train/b/3.png']);
    expect(scan.warnings).toEqual([
      `${path.join(cls, 'x')}: same folder as ${cls} (reached again through a symbolic link); scanned once, not followed`,
      `${path.join(cls, 'y')}: same folder as ${cls} (reached again through a symbolic link); scanned once, not followed`,
    ]);
  }, 20_000);

  test('a link to another real folder of images is still followed; a second link to it is not', () => {
    const d = dataSet();
    const extra = fresh('extra');
    fs.mkdirSync(extra);
    fs.writeFileSync(path.join(extra, '8.png'), png);
    const cls = path.join(d, 'gender_data', 'train', 'b');
    fs.symlinkSync(extra, path.join(cls, 'more'));
    fs.symlinkSync(extra, path.join(cls, 'more2'));
    const scan = scanLayout(d);
    expect(scan.splits.train!.images.map((i) => path.relative(d, i.path))).toEqual(['gender_data/train/a/1.png', 'gender_data/train/a/2.png', 'gender_data/train/b/3.png', 'gender_data/train/b/more/8.png']);
    expect(scan.warnings).toEqual([`${path.join(cls, 'more2')}: same folder as ${path.join(cls, 'more')} (reached again through a symbolic link); scanned once, not followed`]);
  });
});

describe('label files', () => {
  function dir(files: Record<string, string>): string {
    const d = fresh('labels');
    fs.mkdirSync(d);
    for (const [k, v] of Object.entries(files)) fs.writeFileSync(path.join(d, k), v);
    return d;
  }

  test('JSON nested two million deep: one line naming the file, not a stack overflow', async () => {
    const deep = '['.repeat(2_000_000) + ']'.repeat(2_000_000);
    const d = dir({
      'attention_val.json': `[{"img": "a.png", "attention": ${deep}}]`,
      'attention_test.json': `[{"img": "a.png", "attention": [[1]], "note": ${deep}}]`,
      'reasonablity_val.json': `{"a.png": ${deep}}`,
    });
    for (const f of ['attention_val.json', 'attention_test.json']) {
      const e = await inputError(() => readAttentionFile(path.join(d, f)));
      expect(e.file).toBe(path.join(d, f));
      expect(e.problem).toMatch(/^JSON nested more than 256 levels deep at byte \d+/);
    }
    const e = await inputError(() => readReasonability(d));
    expect(e.file).toBe(path.join(d, 'reasonablity_val.json'));
    expect(e.problem).toMatch(/nested more than 256 levels/);
    // nesting below the limit in an ignored field is still fine
    const ok = dir({ 'attention_test.json': `[{"img": "a.png", "attention": [[1]], "note": ${'['.repeat(200) + ']'.repeat(200)}}]` });
    expect(readAttentionFile(path.join(ok, 'attention_test.json')).get('a.png')).toEqual({ h: 1, w: 1, data: Uint8Array.from([255]) });
  });

  test('a UTF-8 BOM in reasonablity_val.json (and in a human assessment file) is accepted', () => {
    const d = dir({ 'reasonablity_val.json': '\ufeff{"val/c/a.png": "Unreasonable Accurate", "b.png": "Reasonable Inaccurate"}\n', 'human.json': '\ufeff[{"img": "a.png", "label": "reasonable"}]' });
    expect(Object.fromEntries(readReasonability(d).labels)).toEqual({ 'a.png': 'Unreasonable Accurate', 'b.png': 'Reasonable Inaccurate' });
    expect(readHumanAssessment(path.join(d, 'human.json'))).toEqual(new Map([['a.png', true]]));
  });

  test('the same image with two different labels is an error naming the file and the image; the same label twice is fine', async () => {
    const twice = dir({ 'reasonablity_val.json': '{"a.png": "Reasonable Accurate", "b.png": "Reasonable Accurate", "a.png": "Unreasonable Accurate"}' });
    let e = await inputError(() => readReasonability(twice));
    expect(e.file).toBe(path.join(twice, 'reasonablity_val.json'));
    expect(e.problem).toBe('a.png has two different labels, "Reasonable Accurate" and "Unreasonable Accurate" ("a.png" appears twice); keep one');
    const paths = dir({ 'reasonablity_val.json': '{"val/x/a.png": "Reasonable Accurate", "val/y/a.png": "Reasonable Inaccurate"}' });
    e = await inputError(() => readReasonability(paths));
    expect(e.problem).toMatch(/^a\.png has two different labels.*"val\/x\/a\.png" and "val\/y\/a\.png" name the same image/);
    const same = dir({ 'reasonablity_val.json': '{"a.png": "Reasonable Accurate", "val/x/a.png": "Reasonable Accurate"}' });
    expect(Object.fromEntries(readReasonability(same).labels)).toEqual({ 'a.png': 'Reasonable Accurate' });
    const human = dir({ 'h.json': '[{"img": "a.png", "label": "reasonable"}, {"img": "x/a.png", "label": "unreasonable"}]' });
    e = await inputError(() => readHumanAssessment(path.join(human, 'h.json')));
    expect(e.file).toBe(path.join(human, 'h.json'));
    expect(e.problem).toMatch(/^a\.png is judged both/);
  });
});

describe('one line naming the file', () => {
  test('GradiaInputError escapes control characters in the file and the problem', () => {
    const e = new GradiaInputError('/d/bad\nname\r.png', 'tab\there, bell\u0007, esc\u001b[2J, sep\u2028end, del\u007f');
    expect(e.message).toBe('/d/bad\\nname\\r.png: tab\\there, bell\\u0007, esc\\u001b[2J, sep\\u2028end, del\\u007f');
    expect(e.file).toBe('/d/bad\nname\r.png'); // the raw name stays available
    expect(new GradiaInputError(null, 'C:\\data\\x.png is fine').message).toBe('C:\\data\\x.png is fine');
  });

  test('a corrupt image whose name holds a newline: one line, naming it', async () => {
    const d = fresh('nl');
    const png = await sharp(Buffer.alloc(8 * 8 * 3, 70), { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer();
    for (const f of ['train/a/1.png', 'train/b/2.png', 'val/a/3.png', 'val/b/4.png', 'test/a/5.png', 'test/b/6.png']) {
      fs.mkdirSync(path.dirname(path.join(d, 'gender_data', f)), { recursive: true });
      fs.writeFileSync(path.join(d, 'gender_data', f), png);
    }
    const bad = path.join(d, 'gender_data', 'train', 'a', 'bad\nname.png');
    fs.writeFileSync(bad, 'not a png');
    const e = await inputError(buildTrainSet(d, { phase: 1, reasonability: false, grid: 1 }));
    expect(e.file).toBe(bad);
    expect(e.message).toMatch(/bad\\nname\.png: unreadable or corrupt image/);
    const c = await inputError(checkImages([{ path: bad }]));
    expect(c.message.split('\n')).toHaveLength(1);
    // warnings too: a skipped non-image file with a newline in its name
    fs.rmSync(bad);
    fs.writeFileSync(path.join(d, 'gender_data', 'train', 'a', 'read\nme.txt'), 'notes');
    const set = await buildTrainSet(d, { phase: 1, reasonability: false, grid: 1 });
    expect(set.warnings).toEqual([`${path.join(d, 'gender_data', 'train')}: 1 non-image file skipped (e.g. a/read\\nme.txt)`]);
  });

  test('an attention map smaller than the grid names the JSON file it came from and the image', async () => {
    const d = fresh('small');
    const png = await sharp(Buffer.alloc(8 * 8 * 3, 70), { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer();
    for (const f of ['train/a/1.png', 'train/b/2.png', 'val/a/3.png', 'val/b/4.png', 'test/a/5.png', 'test/b/6.png']) {
      fs.mkdirSync(path.dirname(path.join(d, 'gender_data', f)), { recursive: true });
      fs.writeFileSync(path.join(d, 'gender_data', f), png);
    }
    const map = (k: number) => Array.from({ length: k }, () => Array.from({ length: k }, () => 1));
    fs.writeFileSync(path.join(d, 'attention_val.json'), JSON.stringify([{ img: 'val/a/3.png', attention: map(7) }, { img: 'val/b/4.png', attention: map(5) }]));
    const P2 = { phase: 2 as const, reasonability: false, grid: 7, checkImages: false };
    let e = await inputError(buildTrainSet(d, P2));
    expect(e.file).toBe(path.join(d, 'attention_val.json'));
    expect(e.problem).toBe('4.png: attention map is 5x5, smaller than the 7x7 Grad-CAM grid');
    // replaced by the update file: that file is named
    fs.writeFileSync(path.join(d, 'attention_val.json'), JSON.stringify([{ img: '3.png', attention: map(7) }, { img: '4.png', attention: map(7) }]));
    fs.writeFileSync(path.join(d, 'attention_val_update.json'), JSON.stringify([{ img: '3.png', attention: map(3) }]));
    e = await inputError(buildTrainSet(d, P2));
    expect(e.file).toBe(path.join(d, 'attention_val_update.json'));
    expect(e.problem).toMatch(/^3\.png: attention map is 3x3/);
  });
});
