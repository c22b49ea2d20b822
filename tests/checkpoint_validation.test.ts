// Load-time validation of weights and checkpoints: malformed safetensors headers and
// sidecars, weights swapped under another checkpoint's sidecar, and NaN/Inf refused at
// load and never written. Each refusal is one line naming the file and the tensor/field.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../src/backend/tf.js';
import { checkSameClasses, loadCheckpoint, readCheckpointMeta, saveCheckpoint, type CheckpointMeta } from '../src/coordinator/checkpoint.js';
import { predict } from '../src/cli/predict.js';
import { createModel, disposeModel, loadWeights, saveWeights } from '../src/model/index.js';
import { tensorSpecs } from '../src/model/resnet.js';
import { readSafetensorsFile, readSafetensorsHeader } from '../src/model/safetensors.js';
import type { ReplicaState } from '../src/worker/types.js';
import { runCli } from './helpers/cli.js';

const CLASSES = ['circle', 'cross']; // make-data's classes

/** A tiny18 state with small deterministic values (all finite). */
function tinyState(seed: number): ReplicaState {
  const specs = tensorSpecs('tiny18', 2);
  const size = (s: { shape: number[] }) => s.shape.reduce((a, b) => a * b, 1);
  const nP = specs.filter((s) => !s.isBuffer).reduce((a, s) => a + size(s), 0);
  const nB = specs.filter((s) => s.isBuffer).reduce((a, s) => a + size(s), 0);
  const val = (i: number) => Math.sin(i * 0.37 + seed) * 0.05;
  const buffers = Float32Array.from({ length: nB }, (_, i) => 0.5 + Math.abs(val(i)));
  let o = 0;
  for (const s of specs.filter((t) => t.isBuffer)) {
    if (s.kind === 'num_batches_tracked') buffers[o] = 2;
    o += size(s);
  }
  return { params: Float32Array.from({ length: nP }, (_, i) => val(i)), buffers, adam: { m: new Float32Array(nP), v: new Float32Array(nP), t: 1 } };
}

/** Offset of `name` in the flat params (or buffers) of tiny18 with 2 classes, and its size. */
function flatRange(name: string): { offset: number; size: number; isBuffer: boolean } {
  let p = 0;
  let b = 0;
  for (const s of tensorSpecs('tiny18', 2)) {
    const size = s.shape.reduce((a, c) => a * c, 1);
    if (s.name === name) return { offset: s.isBuffer ? b : p, size, isBuffer: s.isBuffer };
    if (s.isBuffer) b += size; else p += size;
  }
  throw new Error(`no tensor ${name}`);
}

const meta = (name: string): Omit<CheckpointMeta, 'id' | 'format' | 'createdAt' | 'hasOptimizer'> => ({
  name, arch: 'tiny18', classes: CLASSES, numClasses: 2, inputSize: 64, phase: 1, epoch: 1, step: 4,
  position: { epoch: 1, batch: 0 }, metrics: {}, history: [], best: null, parent: null, config: {}, dataFingerprint: 'f',
});

/** Writes float32 `value` over the first `count` values of tensor `name` in a safetensors file (F32). */
function poison(file: string, name: string, value: number, count: number): void {
  const h = readSafetensorsHeader(file);
  const e = h.entries.get(name)!;
  expect(e.dtype).toBe('F32');
  const buf = fs.readFileSync(file);
  const base = 8 + Number(buf.readBigUInt64LE(0)) + e.begin;
  for (let i = 0; i < count; i++) buf.writeFloatLE(value, base + 4 * i);
  fs.writeFileSync(file, buf);
}

/** A safetensors file from a raw header (any JSON) and `dataBytes` zero bytes. */
function rawSafetensors(file: string, header: unknown, dataBytes: number): void {
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  fs.writeFileSync(file, Buffer.concat([len, h, Buffer.alloc(dataBytes)]));
}

describe('safetensors headers', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-hdr-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const w = (h: object) => ({ dtype: 'F32', shape: [4], data_offsets: [0, 16], ...h });
  const cases: Array<[string, unknown, number, string]> = [
    ['a null header', null, 0, 'not a safetensors file (header is null, not a JSON object)'],
    ['a list header', [1], 0, 'not a safetensors file (header is a list, not a JSON object)'],
    ['a null entry', { w: null }, 16, "tensor 'w' has a header entry of null, not an object"],
    ['missing data_offsets', { w: { dtype: 'F32', shape: [4] } }, 16, "tensor 'w' has no data_offsets"],
    ['a non-list shape', { w: w({ shape: 4 }) }, 16, "tensor 'w' has shape 4, not a list of whole numbers >= 0"],
    ['a fractional dim', { w: w({ shape: [1.5] }) }, 16, "tensor 'w' has shape [1.5], not a list of whole numbers >= 0"],
    ['fractional offsets', { w: w({ data_offsets: [0.5, 16.5] }) }, 17, "tensor 'w' has data_offsets [0.5,16.5], not whole numbers 0 <= begin <= end"],
    ['reversed offsets', { w: w({ data_offsets: [16, 0] }) }, 16, "tensor 'w' has data_offsets [16,0], not whole numbers 0 <= begin <= end"],
    ['offsets beyond the file', { w: w({}) }, 8, "tensor 'w' has data offsets [0, 16] beyond the end of the data (8 bytes)"],
    ['a size that is not dtype x shape', { w: w({ dtype: 'F64' }) }, 16, "tensor 'w' has data offsets [0, 16] (16 bytes) that do not match its shape [4] F64 (32 bytes)"],
    ['overlapping tensors', { w: w({}), v: w({ data_offsets: [8, 24] }) }, 24, "tensor 'v' has data offsets [8, 24] overlapping tensor 'w' [0, 16]"],
    ['an unknown dtype', { w: w({ dtype: 'F8' }) }, 16, "tensor 'w' has unsupported dtype F8"],
    ['non-string metadata', { __metadata__: { a: 1 }, w: w({}) }, 16, 'safetensors __metadata__ is not an object of strings'],
  ];
  for (const [what, header, bytes, problem] of cases) {
    it(`refuses ${what}, naming the file and the tensor`, () => {
      const file = path.join(dir, 'x.safetensors');
      rawSafetensors(file, header, bytes);
      expect(() => readSafetensorsFile(file)).toThrow(`${file}: ${problem}`);
      expect(() => readSafetensorsHeader(file)).toThrow(`${file}: ${problem}`);
    });
  }
  it('accepts well-formed tensors in any order with empty ones (the oracle for the cases above)', () => {
    const file = path.join(dir, 'ok.safetensors');
    rawSafetensors(file, { v: w({ data_offsets: [16, 32] }), w: w({}), e: { dtype: 'F32', shape: [0], data_offsets: [16, 16] } }, 32);
    expect([...readSafetensorsFile(file).tensors.keys()].sort()).toEqual(['e', 'v', 'w']);
  });
});

describe('checkpoint sidecars and non-finite values', () => {
  let dir: string;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-sidecar-')); });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const sidecarCases: Array<[string, (m: Record<string, unknown>) => unknown, string]> = [
    ['null', () => null, "is null, not a checkpoint's JSON object"],
    ['a missing field', (m) => { delete m.classes; return m; }, "field 'classes' is missing, not a list of class names"],
    ['an unknown arch', (m) => ({ ...m, arch: 'vgg16' }), `field 'arch' is "vgg16", not one of resnet18, resnet34, resnet50, tiny18, tiny50`],
    ['a string input size', (m) => ({ ...m, inputSize: '64' }), `field 'inputSize' is "64", not a whole multiple of 32`],
    ['a class count that is not the classes\'', (m) => ({ ...m, numClasses: 3 }), "field 'numClasses' is 3, not the number of classes (2)"],
    ['no position', (m) => ({ ...m, position: null }), "field 'position' is null, not { \"epoch\": E, \"batch\": B } with whole numbers"],
  ];
  for (const [what, edit, problem] of sidecarCases) {
    it(`refuses a sidecar with ${what}, naming the JSON file and the field`, () => {
      saveCheckpoint(dir, meta('s'), tinyState(1));
      const file = path.join(dir, 's.json');
      fs.writeFileSync(file, JSON.stringify(edit(JSON.parse(fs.readFileSync(file, 'utf8')))));
      expect(() => readCheckpointMeta(dir, 's')).toThrow(`${file}: ${problem}`);
      expect(() => readCheckpointMeta(dir, 's')).not.toThrow(/--arch/);
    });
  }

  it('refuses weights swapped under another checkpoint\'s sidecar when only the sidecar is read', () => {
    saveCheckpoint(dir, meta('a'), tinyState(1));
    const b = saveCheckpoint(dir, meta('b'), tinyState(2));
    const a = readCheckpointMeta(dir, 'a');
    fs.copyFileSync(path.join(dir, 'b.safetensors'), path.join(dir, 'a.safetensors'));
    expect(() => readCheckpointMeta(dir, 'a')).toThrow(`${path.join(dir, 'a.safetensors')}: belongs to checkpoint ${b.id}, but ${path.join(dir, 'a.json')} is ${a.id}`);
  });

  it('never writes a state holding NaN or Inf, and writes nothing at all then', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'nan-'));
    const cases: Array<[string, (s: ReplicaState) => void, string]> = [
      ['param', (s) => { const r = flatRange('layer1.0.conv1.weight'); s.params.fill(NaN, r.offset + 5, r.offset + 8); }, "tensor 'layer1.0.conv1.weight' holds NaN (3 values)"],
      ['buffer', (s) => { const r = flatRange('layer2.0.bn1.running_var'); s.buffers[r.offset] = Infinity; s.buffers[r.offset + 1] = NaN; }, "tensor 'layer2.0.bn1.running_var' holds NaN (1 value) and Inf (1 value)"],
      ['adam', (s) => { const r = flatRange('fc.weight'); s.adam.v[r.offset + 1] = -Infinity; }, "tensor 'adam.v' holds Inf (1 value), first in the moments of 'fc.weight'"],
    ];
    for (const [, spoil, problem] of cases) {
      const s = tinyState(3);
      spoil(s);
      expect(() => saveCheckpoint(sub, meta('bad'), s)).toThrow(`${path.join(sub, 'bad')}: not written: ${problem}`);
      expect(fs.readdirSync(sub)).toEqual([]);
    }
    // Adam state is not checked when it is not written.
    const s = tinyState(3);
    s.adam.m[0] = NaN;
    saveCheckpoint(sub, meta('weights-only'), s, false);
    expect(fs.readdirSync(sub).sort()).toEqual(['weights-only.json', 'weights-only.safetensors']);
  });

  it('refuses at load a checkpoint or weights file holding NaN or Inf, naming the file and the tensor', async () => {
    saveCheckpoint(dir, meta('p'), tinyState(4));
    poison(path.join(dir, 'p.safetensors'), 'layer3.0.conv2.weight', NaN, 3);
    expect(() => loadCheckpoint(dir, 'p')).toThrow(`${path.join(dir, 'p.safetensors')}: tensor 'layer3.0.conv2.weight' holds NaN (3 values)`);
    saveCheckpoint(dir, meta('q'), tinyState(4));
    poison(path.join(dir, 'q.optim.safetensors'), 'adam.m', Infinity, 2);
    expect(() => loadCheckpoint(dir, 'q')).toThrow(`${path.join(dir, 'q.optim.safetensors')}: tensor 'adam.m' holds Inf (2 values)`);
    await tf.setBackend('cpu');
    const model = createModel('tiny18', 2, 0);
    try {
      const file = path.join(dir, 'w.safetensors');
      saveWeights(model, file);
      loadWeights(model, file); // finite: loads
      poison(file, 'bn1.weight', NaN, 1);
      expect(() => loadWeights(model, file)).toThrow(`${file}: tensor 'bn1.weight' holds NaN (1 value)`);
    } finally {
      disposeModel(model);
    }
  });

  it('predict refuses weights whose sidecar names another checkpoint (and takes plain weights files)', async () => {
    saveCheckpoint(dir, meta('c'), tinyState(5));
    saveCheckpoint(dir, meta('d'), tinyState(6));
    fs.copyFileSync(path.join(dir, 'd.safetensors'), path.join(dir, 'c.safetensors'));
    await expect(predict({ arch: 'tiny18', weights: path.join(dir, 'c.safetensors'), images: ['none.png'], json: true, backend: 'cpu' }))
      .rejects.toThrow(`${path.join(dir, 'c.safetensors')}: belongs to checkpoint`);
    // Without a sidecar beside it, the same file goes on to the images (and names the missing one).
    fs.copyFileSync(path.join(dir, 'd.safetensors'), path.join(dir, 'plain.safetensors'));
    await expect(predict({ arch: 'tiny18', weights: path.join(dir, 'plain.safetensors'), images: [path.join(dir, 'none.png')], json: true, backend: 'cpu' }))
      .rejects.toThrow(`${path.join(dir, 'none.png')}: unreadable or corrupt image`);
  });
});

describe('the CLI refuses bad weights with one line', () => {
  let dir: string;
  let data: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-badweights-'));
    data = path.join(dir, 'data');
    const made = runCli(['make-data', '--out', data, '--train', '8', '--val', '4', '--test', '4', '--size', '64', '--seed', '4']);
    expect(made.code, made.stderr).toBe(0);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const RT = ['--backend', 'wasm', '--workers', '1'];
  const oneLine = (r: { code: number | null; stderr: string }, line: string) => {
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([`gradia-dist: ${line}`]);
  };

  it('--pretrained weights holding NaN', async () => {
    await tf.setBackend('cpu');
    const m = createModel('tiny18', 2, 1);
    const file = path.join(dir, 'pre.safetensors');
    saveWeights(m, file);
    disposeModel(m);
    poison(file, 'layer1.0.conv1.weight', NaN, 3);
    const r = runCli(['train', '--data-dir', data, '--model-dir', path.join(dir, 'm1'), '--arch', 'tiny18', '--input-size', '64', '--n-epoch', '1', '--train-batch', '8', ...RT, '--pretrained', file]);
    oneLine(r, `${file}: tensor 'layer1.0.conv1.weight' holds NaN (3 values)`);
  });

  it('a phase-2 parent checkpoint holding NaN, or with swapped weights; evaluate and assess of swapped weights', () => {
    const models = path.join(dir, 'm2');
    // 96 px: a 3x3 attention grid, so that phase 2 has nothing to warn about.
    saveCheckpoint(models, { ...meta('model_out'), inputSize: 96 }, tinyState(7), false);
    const w = path.join(models, 'model_out.safetensors');
    const clean = fs.readFileSync(w);
    poison(w, 'layer4.0.bn2.bias', NaN, 2);
    const p2 = ['train', '--phase', '2', '--data-dir', data, '--model-dir', models, '--n-epoch', '1', '--train-batch', '8', ...RT];
    oneLine(runCli(p2), `${w}: tensor 'layer4.0.bn2.bias' holds NaN (2 values)`);
    fs.writeFileSync(w, clean);
    const other = saveCheckpoint(models, meta('other'), tinyState(8), false);
    fs.copyFileSync(path.join(models, 'other.safetensors'), w);
    const id = JSON.parse(fs.readFileSync(path.join(models, 'model_out.json'), 'utf8')).id;
    const swapped = `${w}: belongs to checkpoint ${other.id}, but ${path.join(models, 'model_out.json')} is ${id}: weights swapped or half-copied?`;
    oneLine(runCli(p2), swapped);
    oneLine(runCli(['evaluate', '--data-dir', data, '--model-dir', models, ...RT, '--out-dir', path.join(dir, 'out')]), swapped);
    oneLine(runCli(['assess', '--data-dir', data, '--model-dir', models, ...RT]), swapped);
  });
});

describe('the class-set check between a checkpoint and a data set', () => {
  const file = path.join('m', 'model_out.json');
  it('takes the same classes in the same order', () => {
    expect(() => checkSameClasses('m', 'model_out', ['circle', 'cross'], ['circle', 'cross'])).not.toThrow();
  });
  it.each([
    [['cross', 'circle']],
    [['circle']],
    [['circle', 'cross', 'square']],
    [['circle', 'crosS']],
  ])('refuses %j against [circle, cross], naming the checkpoint sidecar', (data) => {
    expect(() => checkSameClasses('m', 'model_out', ['circle', 'cross'], data)).toThrow(
      `${file}: was trained on classes [circle, cross], the data set has [${data.join(', ')}]`,
    );
  });
});
