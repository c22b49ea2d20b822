// Attention and reasonability label files: formats, semantics and every bad-input rule.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { attentionTarget, keyOf, loadTestAttention, loadValAttention, readAttentionFile } from '../src/data/attention.js';
import { readReasonability, weightsFor } from '../src/data/reasonability.js';
import { GradiaInputError } from '../src/util/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-labels-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function file(content: string, name = `f${n++}.json`): string {
  const d = path.join(tmp, `d${n++}`);
  fs.mkdirSync(d);
  const p = path.join(d, name);
  fs.writeFileSync(p, content);
  return p;
}
function expectInputError(fn: () => unknown, file: string, problem: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(GradiaInputError);
  const g = err as GradiaInputError;
  expect(g.file).toBe(file);
  expect(g.problem).toMatch(problem);
  expect(g.message.split('\n')).toHaveLength(1);
}

describe('attention file parsing', () => {
  test('reads maps of any rectangular size, keyed by base name, later entries win', () => {
    const f = file(
      JSON.stringify([
        { img: 'gender_data/val/a/x1.jpg', attention: [[0, 1, 1], [0, 0, 1]] },
        { img: 'C:\\data\\y.png', attention: [[1]], extra: { ignored: [1, 2, 'x'] } },
        { attention: [[0, 0], [0, 1]], img: 'x1.jpg' },
      ]),
    );
    const m = readAttentionFile(f);
    expect([...m.keys()]).toEqual(['x1.jpg', 'y.png']);
    expect(m.get('x1.jpg')).toEqual({ h: 2, w: 2, data: Uint8Array.from([0, 0, 0, 255]) });
    expect(m.get('y.png')).toEqual({ h: 1, w: 1, data: Uint8Array.from([255]) });
  });
  test('fractional values are kept as x255 (any positive value stays > 0), whitespace, BOM and escapes are fine', () => {
    const f = file('\ufeff [ {"img" : "a\\u00e9\\/b.jpg" ,\n "attention":[ [0.5 , 1e-9 ],\r\n[1.0,0e0] ] } ]\n');
    const m = readAttentionFile(f);
    expect(m.get('b.jpg')).toEqual({ h: 2, w: 2, data: Uint8Array.from([128, 1, 255, 0]) });
    expect(keyOf('a/b\\c.jpg')).toBe('c.jpg');
  });
  test('streams files larger than its 1 MiB read buffer (maps spanning chunk boundaries)', () => {
    const entries = [];
    for (let k = 0; k < 30; k++) {
      const rows = [];
      for (let y = 0; y < 224; y++) rows.push(Array.from({ length: 224 }, (_, x) => ((x * 7 + y * 3 + k) % 5 === 0 ? 1 : 0)));
      entries.push({ img: `dir/img_${k}.jpg`, attention: rows });
    }
    const text = JSON.stringify(entries, null, 1);
    expect(text.length).toBeGreaterThan(3 * (1 << 20));
    const f = file(text);
    const m = readAttentionFile(f);
    expect(m.size).toBe(30);
    for (const [k, e] of entries.entries()) {
      const got = m.get(`img_${k}.jpg`)!;
      expect(got.h).toBe(224);
      expect(got.w).toBe(224);
      expect(got.data.length).toBe(224 * 224);
      const want = Uint8Array.from(e.attention.flat().map((v) => v * 255));
      expect(Buffer.compare(Buffer.from(got.data), Buffer.from(want))).toBe(0);
    }
  });
  test('JSON that does not parse: one line naming the file and the byte', () => {
    for (const bad of ['[{"img": "a.jpg", "attention": [[0, 1]]', '[{"img": "a.jpg" "attention": [[1]]}]', '', '[{"img": "a.jpg", "attention": [[01x]]}]', '[] trailing']) {
      const f = file(bad);
      expectInputError(() => readAttentionFile(f), f, /not valid JSON|empty/);
    }
  });
  test('wrong shapes and non-numeric entries are errors naming the entry', () => {
    const cases: [unknown, RegExp][] = [
      [[{ img: 'a.jpg', attention: [[0, 1], [1]] }], /a\.jpg.*row 1 has 1 values, row 0 has 2.*rectangular/],
      [[{ img: 'a.jpg', attention: [0, 1, 1] }], /a\.jpg.*row 0 is not a list.*2-D/],
      [[{ img: 'a.jpg', attention: [[[0], [1]]] }], /a\.jpg.*attention\[0\]\[0\].*2-D/],
      [[{ img: 'a.jpg', attention: [[0, '1']] }], /a\.jpg.*attention\[0\]\[1\] is "1", not a number/],
      [[{ img: 'a.jpg', attention: [[0, null]] }], /attention\[0\]\[1\] is null, not a number/],
      [[{ img: 'a.jpg', attention: [[0, 2]] }], /attention\[0\]\[1\] = 2 is outside \[-1, 1\]/],
      [[{ img: 'a.jpg', attention: [[0, -1.5]] }], /attention\[0\]\[1\] = -1\.5 is outside \[-1, 1\]/],
      [[{ img: 'a.jpg', attention: [] }], /empty/],
      [[{ img: 'a.jpg', attention: [[], []] }], /empty rows/],
      [[{ img: 'a.jpg', attention: 'x' }], /attention is a string/],
      [[{ img: 'a.jpg' }], /has no "attention"/],
      [[{ attention: [[1]] }], /entry 0 has no "img"/],
      [[{ img: 7, attention: [[1]] }], /"img" is 7/],
      [[{ img: 'dir/', attention: [[1]] }], /names no file/],
      [['a.jpg'], /entry 0 is "a\.jpg", expected an object/],
      [{ img: 'a.jpg' }, /expected a JSON list/],
    ];
    for (const [v, re] of cases) {
      const f = file(JSON.stringify(v));
      expectInputError(() => readAttentionFile(f), f, re);
    }
  });
  test('the remove file may list bare names or {img} objects', () => {
    const f = file(JSON.stringify(['x/a.jpg', { img: 'b.jpg' }, { img: 'c.jpg', attention: 'anything' }]));
    expect([...readAttentionFile(f, { mapsRequired: false }).keys()]).toEqual(['a.jpg', 'b.jpg', 'c.jpg']);
  });
});

function dataDir(files: Record<string, unknown>): string {
  const d = path.join(tmp, `ds${n++}`);
  fs.mkdirSync(d);
  for (const [k, v] of Object.entries(files)) fs.writeFileSync(path.join(d, k), typeof v === 'string' ? v : JSON.stringify(v));
  return d;
}

describe('validation maps: update replaces, remove drops', () => {
  test('semantics', () => {
    const d = dataDir({
      'attention_val.json': [{ img: 'a.jpg', attention: [[1, 0]] }, { img: 'b.jpg', attention: [[1, 0]] }, { img: 'c.jpg', attention: [[1, 1]] }],
      'attention_val_update.json': [{ img: 'b.jpg', attention: [[0, 1]] }, { img: 'd.jpg', attention: [[1, 1]] }],
      'attention_val_remove.json': [{ img: 'c.jpg' }, { img: 'zzz.jpg' }],
    });
    const s = loadValAttention(d);
    expect([...s.maps.keys()].sort()).toEqual(['a.jpg', 'b.jpg', 'd.jpg']);
    expect(Array.from(s.maps.get('b.jpg')!.data)).toEqual([0, 255]);
    expect(s.warnings).toEqual([expect.stringMatching(/attention_val_remove\.json: 1 entry names no validation map/)]);
    expect(s.files).toHaveLength(3);
  });
  test('update and remove are optional; attention_val.json is required', () => {
    const d = dataDir({ 'attention_val.json': [{ img: 'a.jpg', attention: [[1]] }] });
    expect(loadValAttention(d).maps.size).toBe(1);
    const e = dataDir({});
    expectInputError(() => loadValAttention(e), path.join(e, 'attention_val.json'), /missing/);
    expect(loadTestAttention(e).warnings[0]).toMatch(/attention_test\.json: missing/);
  });
});

describe('reasonability labels', () => {
  test('the four labels and their (pred, att) weights, as GRADIA.py', () => {
    expect(weightsFor('Unreasonable Inaccurate')).toEqual({ predWeight: 1, attWeight: 1 });
    expect(weightsFor('Unreasonable Accurate')).toEqual({ predWeight: 0.4, attWeight: 1.6 });
    expect(weightsFor('Reasonable Inaccurate')).toEqual({ predWeight: 0.8, attWeight: 0.2 });
    expect(weightsFor('Reasonable Accurate')).toEqual({ predWeight: 1, attWeight: 0 });
    expect(weightsFor(undefined)).toEqual({ predWeight: 1, attWeight: 0 });
  });
  test('reads {file: label}, keys reduced to base names; absent file = no labels', () => {
    const d = dataDir({ 'reasonablity_val.json': { 'val/f/a.jpg': 'Reasonable Accurate', 'b.jpg': 'Unreasonable Inaccurate' } });
    const r = readReasonability(d);
    expect(Object.fromEntries(r.labels)).toEqual({ 'a.jpg': 'Reasonable Accurate', 'b.jpg': 'Unreasonable Inaccurate' });
    expect(readReasonability(dataDir({})).labels.size).toBe(0);
  });
  test('an unknown label is an error naming it and the file', () => {
    const d = dataDir({ 'reasonablity_val.json': { 'a.jpg': 'Reasonable accurate' } });
    expectInputError(() => readReasonability(d), path.join(d, 'reasonablity_val.json'), /unknown label "Reasonable accurate" for a\.jpg/);
  });
  test('JSON that does not parse, or is not an object', () => {
    const d = dataDir({ 'reasonablity_val.json': '{"a.jpg": ' });
    expectInputError(() => readReasonability(d), path.join(d, 'reasonablity_val.json'), /not valid JSON/);
    const e = dataDir({ 'reasonablity_val.json': '["a.jpg"]' });
    expectInputError(() => readReasonability(e), path.join(e, 'reasonablity_val.json'), /expected an object/);
  });
});

describe('attention targets', () => {
  test('all-zero map -> null and a warning naming the file, never NaN', () => {
    const w: string[] = [];
    expect(attentionTarget({ h: 14, w: 14, data: new Uint8Array(196) }, 7, 'zero.jpg', w)).toBeNull();
    expect(w).toEqual([expect.stringMatching(/^zero\.jpg: all-zero/)]);
  });
  test('a map smaller than the grid is an error naming the file', () => {
    expect(() => attentionTarget({ h: 3, w: 9, data: new Uint8Array(27).fill(255) }, 7, 'small.jpg')).toThrow(/small\.jpg: attention map is 3x9, smaller than the 7x7/);
  });
  test('targets are in [0, 1] with max exactly 1', () => {
    const data = new Uint8Array(224 * 224);
    for (let y = 40; y < 120; y++) for (let x = 100; x < 200; x++) data[y * 224 + x] = 255;
    const t = attentionTarget({ h: 224, w: 224, data }, 7)!;
    expect(Math.max(...t)).toBe(1);
    expect(Math.min(...t)).toBeGreaterThanOrEqual(0);
    expect(t[6 * 7 + 0]).toBe(0); // bottom-left far from the blob
  });
});
