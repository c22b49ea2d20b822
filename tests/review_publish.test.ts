// review --publish (library level, predictions given): the files phase 2 reads, their
// provenance, merge rules on hand-made journals, and refusals that write nothing.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ATTENTION_FILES, attentionTarget, readAttentionFile } from '../src/data/attention.js';
import { buildTrainSet } from '../src/data/phase_dataset.js';
import { readReasonability, REASONABILITY_FILE } from '../src/data/reasonability.js';
import type { JournalEvent, Judgement } from '../src/review/api.js';
import { foldByImage, readJournalFile, reviewDirOf } from '../src/review/journal_read.js';
import { mergeReview, parseMergeRule, pixelMajority, type AnnotatorStates } from '../src/review/merge.js';
import { FIRST_SEEN_FOLDER } from '../src/review/first_seen.js';
import { publishReview } from '../src/review/publish.js';
import { JournalStore } from '../src/review/journal.js';
import { GradiaInputError } from '../src/util/errors.js';
import { makeDataSet, type MadeDataSet } from './helpers/data_set.js';

const GRID = 2; // 64 px input
let ds: MadeDataSet;
let pristine: string; // a copy of the generated data set's label files
let val: { fileName: string; label: number }[];

const LABEL_NAMES = [REASONABILITY_FILE, ATTENTION_FILES.val, ATTENTION_FILES.valUpdate, ATTENTION_FILES.valRemove];

beforeAll(async () => {
  ds = makeDataSet('gradia-publish-', { train: 6, val: 6, test: 2, size: 64, seed: 3 });
  pristine = path.join(ds.dir, 'pristine');
  fs.mkdirSync(pristine);
  for (const n of LABEL_NAMES) fs.copyFileSync(path.join(ds.data, n), path.join(pristine, n));
  const set = await buildTrainSet(ds.data, { phase: 2, reasonability: false, grid: GRID });
  val = set.samples.filter((s) => s.fileName.startsWith('val_')).map((s) => ({ fileName: s.fileName, label: s.label }));
}, 120_000);
afterAll(() => fs.rmSync(ds.dir, { recursive: true, force: true }));

beforeEach(() => {
  for (const n of LABEL_NAMES) fs.copyFileSync(path.join(pristine, n), path.join(ds.data, n));
  fs.rmSync(path.join(ds.data, 'review'), { recursive: true, force: true });
});

type Value = JournalEvent['value'];
/** Writes a journal: one line per [image number, value]; `raw` lines appended as given. */
function journal(annotator: string, events: [number, Value][], raw = ''): string {
  const dir = path.join(reviewDirOf(ds.data, 'm'), 'judgements');
  fs.mkdirSync(dir, { recursive: true });
  const lines = events.map(([i, value], k) => JSON.stringify({ id: `${annotator}-${k}`, index: i, baseRevision: 0, value, seq: k + 1, time: '2026-01-01T00:00:00Z', image: val[i]!.fileName }));
  const file = path.join(dir, `${annotator}.jsonl`);
  fs.writeFileSync(file, lines.map((l) => `${l}\n`).join('') + raw);
  return file;
}
const judge = (j: Judgement | null): Value => ({ kind: 'judge', judgement: j });
const bits = (data: number[]): string => Buffer.from(data).toString('base64');
const mapValue = (h: number, w: number, data: number[]): Value => ({ kind: 'map', map: { h, w, bits: bits(data) } });

/** Predictions: right for the images in `right`, wrong for the others. */
const predictor = (right: Set<number>) => async (samples: { fileName: string; label: number }[]) =>
  samples.map((s) => (right.has(val.findIndex((v) => v.fileName === s.fileName)) ? s.label : 1 - s.label));

const publish = (rule = 'majority', right = new Set([0])) =>
  publishReview({ dataDir: ds.data, modelName: 'm', rule: parseMergeRule(rule), grid: GRID, checkpointId: 'ck1', predict: predictor(right) });

describe('review --publish', () => {
  it('writes exactly the judged entries; phase 2 reads them with the expected weights', async () => {
    journal('ann', [[0, judge('unreasonable')], [1, judge('reasonable')], [2, judge('reasonable')], [2, judge(null)]]);
    const r = await publish('majority', new Set([0])); // image 0 predicted right, 1 wrong
    const labels = JSON.parse(fs.readFileSync(path.join(ds.data, REASONABILITY_FILE), 'utf8'));
    expect(labels).toEqual({ [val[0]!.fileName]: 'Unreasonable Accurate', [val[1]!.fileName]: 'Reasonable Inaccurate' });
    expect(readReasonability(ds.data).labels.size).toBe(2);
    const set = await buildTrainSet(ds.data, { phase: 2, reasonability: true, grid: GRID });
    const w = (i: number) => set.samples.find((s) => s.fileName === val[i]!.fileName)!;
    expect([w(0).predWeight, w(0).attWeight]).toEqual([0.4, 1.6]);
    expect([w(1).predWeight, w(1).attWeight]).toEqual([0.8, 0.2]);
    expect([w(3).predWeight, w(3).attWeight]).toEqual([1, 0]); // not judged: default
    // provenance next to the output
    const manifest = JSON.parse(fs.readFileSync(r.files.manifest, 'utf8'));
    expect(manifest.checkpoint).toBe('ck1');
    expect(manifest.entries.find((e: { img: string }) => e.img === val[0]!.fileName).events).toEqual({ ann: [1] });
    expect(manifest.entries.find((e: { img: string }) => e.img === val[2]!.fileName)).toBeUndefined(); // judged, then undone
    // the file replaced is kept
    expect(fs.readFileSync(path.join(r.backup!, REASONABILITY_FILE), 'utf8')).toBe(fs.readFileSync(path.join(pristine, REASONABILITY_FILE), 'utf8'));
  });

  it('a removed sample leaves phase 2\'s attention training; a redrawn map is written bit for bit and trained on', async () => {
    const drawn = Array.from({ length: 64 * 64 }, (_, p) => ((p % 64) < 20 && Math.floor(p / 64) < 30 ? 1 : 0));
    journal('ann', [[2, { kind: 'remove', removed: true }], [3, mapValue(64, 64, drawn)], [3, judge('unreasonable')]]);
    const before = await buildTrainSet(ds.data, { phase: 2, reasonability: false, grid: GRID });
    expect(before.samples.find((s) => s.fileName === val[2]!.fileName)!.target).not.toBeNull();
    const r = await publish('majority', new Set([3]));
    expect(r.counts).toMatchObject({ judged: 1, maps: 1, removed: 1 });
    const removed = readAttentionFile(path.join(ds.data, ATTENTION_FILES.valRemove), { mapsRequired: false });
    expect([...removed.keys()]).toEqual([val[2]!.fileName]);
    const upd = readAttentionFile(path.join(ds.data, ATTENTION_FILES.valUpdate));
    const m = upd.get(val[3]!.fileName)!;
    expect([m.h, m.w]).toEqual([64, 64]);
    expect(Array.from(m.data, (v) => v / 255)).toEqual(drawn);
    const set = await buildTrainSet(ds.data, { phase: 2, reasonability: true, grid: GRID });
    const s2 = set.samples.find((s) => s.fileName === val[2]!.fileName)!;
    expect([s2.target, s2.predWeight, s2.attWeight]).toEqual([null, 1, 0]);
    const s3 = set.samples.find((s) => s.fileName === val[3]!.fileName)!;
    expect(Array.from(s3.target!)).toEqual(Array.from(attentionTarget({ h: 64, w: 64, data: Uint8Array.from(drawn, (v) => v * 255) }, GRID)!));
    expect([s3.predWeight, s3.attWeight]).toEqual([0.4, 1.6]);
    // publishing again keeps the one remove entry (the image still counts as having a map)
    const again = await publish('majority', new Set([3]));
    expect(again.counts.removed).toBe(1);
    expect(again.warnings.join('\n')).not.toContain('no human map');
    expect([...readAttentionFile(path.join(ds.data, ATTENTION_FILES.valRemove), { mapsRequired: false }).keys()]).toEqual([val[2]!.fileName]);
  });

  it('a redrawn map\'s "do not look here" pixels (2) are written as -1; the trainer reads them as negatives for RES\'s targets', async () => {
    // left half of the top rows: look here; a band at the bottom: do not look here
    const drawn = Array.from({ length: 64 * 64 }, (_, p) => {
      const x = p % 64;
      const y = Math.floor(p / 64);
      return y < 30 && x < 20 ? 1 : y >= 32 && y < 48 ? 2 : 0;
    });
    journal('ann', [[4, mapValue(64, 64, drawn)], [4, judge('unreasonable')]]);
    await publish('majority', new Set([4]));
    const text = JSON.parse(fs.readFileSync(path.join(ds.data, ATTENTION_FILES.valUpdate), 'utf8')) as { img: string; attention: number[][] }[];
    const entry = text.find((e) => e.img === val[4]!.fileName)!;
    expect(entry.attention.flat()).toEqual(drawn.map((v) => (v === 2 ? -1 : v)));
    const m = readAttentionFile(path.join(ds.data, ATTENTION_FILES.valUpdate)).get(val[4]!.fileName)!;
    expect(Array.from(m.data, (v) => v / 255)).toEqual(drawn.map((v) => (v === 1 ? 1 : 0)));
    expect(Array.from(m.negative!, (v) => v / 255)).toEqual(drawn.map((v) => (v === 2 ? 1 : 0)));
    // RES's objectives train on the -1 band (nearest neighbour to 2x2 reads pixels (0,0), (32,0), (0,32), (32,32))
    const res = await buildTrainSet(ds.data, { phase: 2, reasonability: true, grid: GRID, targets: 'res' });
    expect(Array.from(res.samples.find((s) => s.fileName === val[4]!.fileName)!.target!)).toEqual([1, 0, -1, -1]);
    // GRADIA's objective trains on the positive part only, as from any map with negatives
    const gradia = await buildTrainSet(ds.data, { phase: 2, reasonability: true, grid: GRID });
    expect(Array.from(gradia.samples.find((s) => s.fileName === val[4]!.fileName)!.target!))
      .toEqual(Array.from(attentionTarget({ h: 64, w: 64, data: Uint8Array.from(drawn, (v) => (v === 1 ? 255 : 0)) }, GRID)!));
  });

  it('keeps the label files as first seen, once: a later publish leaves that copy as it was', async () => {
    // a staging folder left by a crash of an earlier attempt is no copy
    const leftover = path.join(reviewDirOf(ds.data, 'm'), `.${FIRST_SEEN_FOLDER}-1-deadbeef`);
    fs.mkdirSync(leftover, { recursive: true });
    fs.writeFileSync(path.join(leftover, REASONABILITY_FILE), 'half');
    journal('ann', [[0, judge('unreasonable')]]);
    await publish('majority', new Set([0]));
    const kept = path.join(reviewDirOf(ds.data, 'm'), FIRST_SEEN_FOLDER);
    expect(fs.existsSync(leftover)).toBe(false);
    const manifest = JSON.parse(fs.readFileSync(path.join(kept, 'manifest.json'), 'utf8')) as { sha256: Record<string, string>; absent: string[] };
    for (const n of LABEL_NAMES) {
      const original = fs.readFileSync(path.join(pristine, n));
      expect(fs.readFileSync(path.join(kept, n)).equals(original), n).toBe(true);
      expect(manifest.sha256[n]).toBe(crypto.createHash('sha256').update(original).digest('hex'));
    }
    expect(manifest.absent).toEqual([]);
    // the data dir now holds the published file; a second publish changes it again, the copy stays
    expect(fs.readFileSync(path.join(ds.data, REASONABILITY_FILE)).equals(fs.readFileSync(path.join(pristine, REASONABILITY_FILE)))).toBe(false);
    journal('ann', [[0, judge('reasonable')], [1, judge('unreasonable')]]);
    await publish('majority', new Set([0]));
    for (const n of LABEL_NAMES) expect(fs.readFileSync(path.join(kept, n)).equals(fs.readFileSync(path.join(pristine, n))), n).toBe(true);
  });

  it('reads what the server\'s journal store wrote: U, R, a repeated save and a refused stale write', async () => {
    const store = JournalStore.open(reviewDirOf(ds.data, 'm'), 'web');
    expect(store.append({ id: 'u1', index: 0, baseRevision: 0, value: judge('unreasonable') }, val[0]!.fileName).kind).toBe('saved');
    expect(store.append({ id: 'r1', index: 1, baseRevision: 0, value: judge('reasonable') }, val[1]!.fileName).kind).toBe('saved');
    expect(store.append({ id: 'r1', index: 1, baseRevision: 0, value: judge('reasonable') }, val[1]!.fileName).kind).toBe('duplicate');
    expect(store.append({ id: 'old', index: 0, baseRevision: 0, value: judge('reasonable') }, val[0]!.fileName).kind).toBe('conflict');
    store.close();
    await publish('majority', new Set([0, 1]));
    expect(JSON.parse(fs.readFileSync(path.join(ds.data, REASONABILITY_FILE), 'utf8'))).toEqual({ [val[0]!.fileName]: 'Unreasonable Accurate', [val[1]!.fileName]: 'Reasonable Accurate' });
  });

  it('refuses, in one line and writing nothing, when the trainer\'s reader would reject a map', async () => {
    journal('ann', [[1, judge('reasonable')], [4, mapValue(1, 1, [1])]]); // 1x1 is smaller than the 2x2 grid
    const before = LABEL_NAMES.map((n) => fs.readFileSync(path.join(ds.data, n), 'utf8'));
    const err = await publish().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GradiaInputError);
    const msg = (err as Error).message;
    expect(msg.split('\n')).toHaveLength(1);
    expect(msg).toContain(path.join(ds.data, ATTENTION_FILES.valUpdate));
    expect(msg).toContain('smaller than the 2x2 Grad-CAM grid');
    expect(msg).not.toContain('.publish-');
    expect(LABEL_NAMES.map((n) => fs.readFileSync(path.join(ds.data, n), 'utf8'))).toEqual(before);
    const left = fs.readdirSync(reviewDirOf(ds.data, 'm'));
    expect(left).toEqual(['judgements']); // no manifest, no staging folder
  });

  it('refuses a journal naming an image outside the validation split, and a damaged line; drops a torn last line', async () => {
    const file = journal('ann', [[0, judge('reasonable')]], '{"id":"torn","ind');
    expect(readJournalFile(file)).toMatchObject({ torn: true, events: [{ id: 'ann-0' }] });
    const r = await publish();
    expect(r.warnings.join('\n')).toContain('torn last line dropped');
    fs.appendFileSync(file, '\n');
    await expect(publish()).rejects.toThrow(/ann\.jsonl: line 2 is not JSON/);
    fs.writeFileSync(file, `${JSON.stringify({ id: 'x', index: 0, baseRevision: 0, value: judge('reasonable'), seq: 1, time: 't', image: 'nope.png' })}\n`);
    await expect(publish()).rejects.toThrow(/nope\.png is not a validation image/);
  });
});

describe('merge rules', () => {
  const fold = (annotator: string, events: [number, Value][]): AnnotatorStates => {
    const evs = events.map(([i, value], k) => ({ id: `${annotator}${k}`, index: i, baseRevision: 0, value, seq: k + 1, time: 't', image: `im${i}.png` }));
    return { annotator, file: `${annotator}.jsonl`, items: foldByImage(evs) };
  };
  const R = judge('reasonable');
  const U = judge('unreasonable');

  it('majority; a tie is unreasonable; an adjudicator wins where given and the majority decides elsewhere', () => {
    const a = fold('a', [[0, R], [1, R], [2, R], [3, U]]);
    const b = fold('b', [[0, R], [1, U], [2, R], [3, U]]);
    const c = fold('c', [[0, U], [2, U]]);
    const maj = mergeReview([a, b, c], { kind: 'majority' });
    expect(maj.map((m) => m.judgement)).toEqual(['reasonable', 'unreasonable', 'reasonable', 'unreasonable']);
    expect(maj[1]!.judgementBy).toEqual({ by: 'tie', annotators: ['a', 'b'] });
    expect(maj[0]!.votes).toEqual({ reasonable: 2, unreasonable: 1 });
    const adj = mergeReview([a, b, c], parseMergeRule('adjudicator=c'));
    expect(adj.map((m) => m.judgement)).toEqual(['unreasonable', 'unreasonable', 'unreasonable', 'unreasonable']);
    expect(adj.map((m) => m.judgementBy!.by)).toEqual(['adjudicator', 'tie', 'adjudicator', 'majority']);
    expect(() => mergeReview([a, b], parseMergeRule('adjudicator=zed'))).toThrow(/zed has no journal/);
    expect(() => parseMergeRule('minority')).toThrow(/--merge minority: expected "majority" or "adjudicator=NAME"/);
  });

  it('removal needs a strict majority (or the adjudicator); maps merge by pixel majority, ties in', () => {
    const X = { kind: 'remove', removed: true } as const;
    const a = fold('a', [[0, X], [1, X], [2, mapValue(1, 4, [1, 1, 0, 0])]]);
    const b = fold('b', [[0, X], [1, R], [2, mapValue(1, 4, [1, 0, 1, 0])]]);
    const c = fold('c', [[0, R], [2, mapValue(1, 4, [0, 0, 1, 0])]]);
    const m = mergeReview([a, b, c], { kind: 'majority' });
    expect(m.map((x) => x.removed)).toEqual([true, false, false]); // 2 of 3; 1 of 2 is a tie: kept
    expect(Array.from(m[2]!.map!.data)).toEqual([1, 0, 1, 0]);
    expect(Array.from(pixelMajority([{ h: 1, w: 3, data: Uint8Array.from([1, 1, 0]) }, { h: 1, w: 3, data: Uint8Array.from([0, 1, 0]) }]).data)).toEqual([1, 1, 0]);
    // with "do not look here" (2): look here when at least half say so, else do not look here when at least half say so
    const maps = (...rows: number[][]) => rows.map((r) => ({ h: 1, w: r.length, data: Uint8Array.from(r) }));
    expect(Array.from(pixelMajority(maps([1, 2, 2, 0, 1, 2], [2, 2, 0, 0, 1, 1], [0, 2, 1, 2, 2, 1])).data)).toEqual([0, 2, 0, 0, 1, 1]);
    expect(Array.from(pixelMajority(maps([1, 2, 2], [2, 0, 2])).data)).toEqual([1, 2, 2]);
    const adj = mergeReview([a, b, c], parseMergeRule('adjudicator=c'));
    expect(Array.from(adj[2]!.map!.data)).toEqual([0, 0, 1, 0]);
    expect(adj[0]!.removed).toBe(true); // c never pressed X on image 0: the majority decides
  });
});
