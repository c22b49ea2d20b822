// computeGradients recomputes the backbone block by block in its backward pass (src/model/recompute.ts).
// Oracle: one tape over the whole network (tests/helpers/whole_graph_gradients.ts). Gradients, loss
// sums and BN buffers must be the same bits on every backend; BN running statistics must take each
// micro-batch once (checked by hand from the first BN's input); and the step must hold fewer live
// tensor bytes than the whole-network tape.
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../src/backend/tf.js';
import { registerOnednnBackend } from '../src/backend/onednn/index.js';
import {
  applyHashWeights, backboneSegments, bufferLayout, computeGradients, createModel, disposeModel, paramLayout, readBuffers, writeBuffers,
  tensorSpecs, BN_MOMENTUM,
} from '../src/model/index.js';
import type { ArchName, CamMode, Model, TrainBatch } from '../src/model/index.js';
import { recomputedGradients, TAPED_FROM_STAGE } from '../src/model/recompute.js';
import type { GradOptions, Normaliser } from '../src/model/index.js';
import { wholeGraphGradients } from './helpers/whole_graph_gradients.js';

const backends = ['cpu', 'wasm'];
beforeAll(async () => {
  if ((await registerOnednnBackend()).ok) backends.push('onednn');
});

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
}

/** A micro-batch; `att` null: phase 1 (no attention weights). */
function makeBatch(n: number, size: number, seed: number, classes: number, att: number[] | null): TrainBatch {
  const r = rng(seed);
  const g = size / 32;
  return {
    n, size,
    images: new Float32Array(n * size * size * 3).map(() => r() * 2 - 1),
    labels: Int32Array.from({ length: n }, () => Math.floor(r() * classes)),
    predWeight: Float32Array.from({ length: n }, (_, i) => [1, 0.4, 0.8, 1][i % 4]),
    attWeight: Float32Array.from({ length: n }, (_, i) => (att ? att[i % att.length] : 0)),
    targets: new Float32Array(n * g * g).map(() => r()),
  };
}

/** Index of the first element whose float32 bits differ (+0 and -0 differ, equal NaNs do not), or -1. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

/** Name of the flat entry i (parameter or buffer) for failure messages. */
function nameAt(layout: { names: string[]; offsets: number[] }, i: number): string {
  let k = 0;
  while (k + 1 < layout.offsets.length && layout.offsets[k + 1] <= i) k++;
  return `${layout.names[k]}[${i - layout.offsets[k]}]`;
}

/** computeGradients' accumulation over micro-batches, with another split between recomputed and taped stages. */
function gradientsTapedFrom(model: Model, mbs: TrainBatch[], norm: Normaliser, opts: GradOptions, stage: number): { grads: Float32Array; taskLossSum: number; attLossSum: number } {
  const pl = paramLayout(model);
  const grads = new Float32Array(pl.total);
  const written = new Set<string>();
  let taskLossSum = 0;
  let attLossSum = 0;
  for (const mb of mbs) {
    const x = tf.tensor4d(mb.images, [mb.n, mb.size, mb.size, 3]);
    const r = recomputedGradients(model, { x, labels: mb.labels, predWeight: mb.predWeight, attWeight: mb.attWeight, targets: mb.targets }, norm, opts, (name, g) => {
      const off = pl.offsets[pl.names.indexOf(name)];
      const d = g.dataSync() as Float32Array;
      if (written.has(name)) for (let j = 0; j < d.length; j++) grads[off + j] += d[j];
      else grads.set(d, off);
      written.add(name);
    }, stage);
    x.dispose();
    taskLossSum += r.taskSum;
    attLossSum += r.attSum;
  }
  return { grads, taskLossSum, attLossSum };
}

interface Case { arch: ArchName; size: number; cam: CamMode; freezeBn: boolean; att: number[] | null; mbs: number[]; stages?: number[] }

const CASES: Case[] = [
  { arch: 'tiny18', size: 32, cam: 'closed', freezeBn: false, att: null, mbs: [4, 2] }, // phase 1
  // phase 2; also with every segment recomputed (5), only the stem (1), and none (0)
  { arch: 'tiny50', size: 32, cam: 'closed', freezeBn: false, att: [1, 1.6, 0, 0.2], mbs: [4, 2], stages: [5, 1, 0] },
  { arch: 'tiny18', size: 64, cam: 'autodiff', freezeBn: true, att: [0.5, 0, 1], mbs: [2, 2] }, // phase 2, frozen BN
  { arch: 'tiny50', size: 64, cam: 'closed', freezeBn: true, att: null, mbs: [2] }, // phase 1, frozen BN
];

describe('recomputed gradients', () => {
  it.each(['cpu', 'wasm', 'onednn'])('%s: gradients, loss sums and BN buffers equal one tape over the whole network, bit for bit', async (be) => {
    if (!backends.includes(be)) return; // the oneDNN addon is not built here
    await tf.setBackend(be);
    for (const [ci, c] of CASES.entries()) {
      const what = `${be} ${c.arch} ${c.size} px cam ${c.cam}${c.freezeBn ? ' frozen BN' : ''}${c.att ? ' phase 2' : ' phase 1'}`;
      const model = createModel(c.arch, 3, 7);
      applyHashWeights(model); // BN weights, biases and running stats away from 1 / 0
      const mbs = c.mbs.map((n, i) => makeBatch(n, c.size, 100 * ci + i, 3, c.att));
      const total = c.mbs.reduce((a, b) => a + b, 0);
      const nAtt = mbs.reduce((a, b) => a + b.attWeight.filter((w) => w > 0).length, 0);
      const norm = { globalBatch: total + 3, globalAttCount: nAtt + 1 }; // as if other workers held more
      const opts = { attentionWeight: 0.7, cam: c.cam, freezeBn: c.freezeBn };
      const buffersBefore = readBuffers(model);

      const oracle = wholeGraphGradients(model, mbs, norm, opts);
      const oracleBuffers = readBuffers(model);
      writeBuffers(model, buffersBefore);
      const tensorsBefore = tf.memory().numTensors;
      const r = computeGradients(model, mbs, norm, opts);
      expect(tf.memory().numTensors, `${what}: tensors leaked`).toBe(tensorsBefore);
      const buffers = readBuffers(model);

      const pl = paramLayout(model);
      const gi = firstBitDifference(r.grads, oracle.grads);
      expect(gi, `${what}: gradient ${gi >= 0 ? nameAt(pl, gi) : ''} ${r.grads[gi]} vs ${oracle.grads[gi]}`).toBe(-1);
      expect(Object.is(r.taskLossSum, oracle.taskLossSum), `${what}: task loss ${r.taskLossSum} vs ${oracle.taskLossSum}`).toBe(true);
      expect(Object.is(r.attLossSum, oracle.attLossSum), `${what}: attention loss ${r.attLossSum} vs ${oracle.attLossSum}`).toBe(true);
      if (c.att) expect(r.attLossSum).toBeGreaterThan(0);
      const bi = firstBitDifference(buffers, oracleBuffers);
      expect(bi, `${what}: buffer ${bi >= 0 ? nameAt(bufferLayout(model), bi) : ''}`).toBe(-1);
      // not a vacuous match: every parameter got a gradient, and training BN moved its buffers
      pl.names.forEach((name, i) => {
        const g = r.grads.subarray(pl.offsets[i], pl.offsets[i] + pl.sizes[i]);
        expect(g.some((v) => v !== 0), `${what}: ${name} has no gradient`).toBe(true);
      });
      expect(firstBitDifference(buffers, buffersBefore) === -1, `${what}: buffers moved`).toBe(c.freezeBn);
      expect(TAPED_FROM_STAGE).toBeGreaterThan(0); // the default recomputes something
      for (const stage of c.stages ?? []) {
        writeBuffers(model, buffersBefore);
        const v = gradientsTapedFrom(model, mbs, norm, opts, stage);
        const i = firstBitDifference(v.grads, oracle.grads);
        expect(i, `${what}, taped from stage ${stage}: gradient ${i >= 0 ? nameAt(pl, i) : ''}`).toBe(-1);
        expect([v.taskLossSum, v.attLossSum], `${what}, taped from stage ${stage}`).toEqual([oracle.taskLossSum, oracle.attLossSum]);
        expect(firstBitDifference(readBuffers(model), oracleBuffers), `${what}, taped from stage ${stage}: buffers`).toBe(-1);
      }
      disposeModel(model);
    }
  }, 300_000); // a few seconds each on a quiet machine; minutes when 2 cores are shared by many jobs

  it('training BN takes each micro-batch once: running stats by hand from the first BN\'s input; frozen BN keeps them', async () => {
    await tf.setBackend('cpu');
    const model = createModel('tiny18', 2, 3);
    applyHashWeights(model);
    const bl = bufferLayout(model);
    const at = (buf: Float32Array, name: string) => { const i = bl.names.indexOf(name); return buf.subarray(bl.offsets[i], bl.offsets[i] + bl.sizes[i]); };
    const mbs = [makeBatch(4, 32, 1, 2, [1, 0]), makeBatch(2, 32, 2, 2, [1, 0])];
    const norm = { globalBatch: 6, globalAttCount: 3 };
    const before = readBuffers(model);
    computeGradients(model, mbs, norm, { attentionWeight: 1, cam: 'closed' });
    const after = readBuffers(model);
    // every BN counted both micro-batches, once each
    for (const name of bl.names.filter((n) => n.endsWith('num_batches_tracked'))) expect(at(after, name)[0], name).toBe(at(before, name)[0] + 2);
    // bn1's input is conv1(x) (7x7, stride 2, pad 3): its batch mean and unbiased variance in double precision,
    // applied with momentum 0.1 for each micro-batch in turn
    const w = model.params.get('conv1.weight')! as unknown as tf.Tensor4D;
    const C = w.shape[3];
    const mean = Float64Array.from(at(before, 'bn1.running_mean'));
    const vari = Float64Array.from(at(before, 'bn1.running_var'));
    for (const mb of mbs) {
      const y = tf.tidy(() => tf.conv2d(tf.tensor4d(mb.images, [mb.n, 32, 32, 3]), w, 2, [[0, 0], [3, 3], [3, 3], [0, 0]]));
      const v = y.dataSync();
      const cnt = v.length / C;
      y.dispose();
      for (let c = 0; c < C; c++) {
        let s = 0; let s2 = 0;
        for (let j = c; j < v.length; j += C) s += v[j];
        const m = s / cnt;
        for (let j = c; j < v.length; j += C) s2 += (v[j] - m) ** 2;
        mean[c] = (1 - BN_MOMENTUM) * mean[c] + BN_MOMENTUM * m;
        vari[c] = (1 - BN_MOMENTUM) * vari[c] + BN_MOMENTUM * (s2 / (cnt - 1));
      }
    }
    const rm = at(after, 'bn1.running_mean');
    const rv = at(after, 'bn1.running_var');
    for (let c = 0; c < C; c++) {
      expect(Math.abs(rm[c] - mean[c]), `running_mean[${c}]`).toBeLessThan(1e-5 * Math.max(1, Math.abs(mean[c])));
      expect(Math.abs(rv[c] - vari[c]), `running_var[${c}]`).toBeLessThan(1e-5 * Math.max(1, Math.abs(vari[c])));
    }
    // frozen BN: every buffer keeps its bits
    computeGradients(model, mbs, norm, { attentionWeight: 1, cam: 'closed', freezeBn: true });
    expect(firstBitDifference(readBuffers(model), after)).toBe(-1);
    disposeModel(model);
  });

  it('a step holds less than half the live tensor bytes of one tape over the whole network', async () => {
    await tf.setBackend('cpu');
    const model = createModel('tiny50', 2, 4);
    const mbs = [makeBatch(4, 64, 9, 2, [1, 0.5])];
    const norm = { globalBatch: 4, globalAttCount: 4 };
    const opts = { attentionWeight: 1, cam: 'closed' as const };
    // bytes above what is live before (the model, and anything an earlier test left)
    const base = tf.memory().numBytes;
    const whole = (await tf.profile(() => { wholeGraphGradients(model, mbs, norm, opts); })).peakBytes - base;
    const recomputed = (await tf.profile(() => { computeGradients(model, mbs, norm, opts); })).peakBytes - base;
    expect(recomputed).toBeLessThan(whole / 2);
    disposeModel(model);
  });

  it('the backbone segments cover every parameter but the head\'s, once, in state_dict order', () => {
    for (const arch of ['resnet18', 'resnet34', 'resnet50', 'tiny18', 'tiny50'] as ArchName[]) {
      const segs = backboneSegments(arch);
      const blocks = ({ resnet18: 8, resnet34: 16, resnet50: 16, tiny18: 4, tiny50: 4 } as Record<ArchName, number>)[arch];
      const last = ({ resnet18: 'layer4.1', resnet34: 'layer4.2', resnet50: 'layer4.2', tiny18: 'layer4.0', tiny50: 'layer4.0' } as Record<ArchName, string>)[arch];
      expect([segs.length, segs[0].name, segs[1].name, segs.at(-1)!.name], arch).toEqual([1 + blocks, 'stem', 'layer1.0', last]);
      const params = tensorSpecs(arch, 2).filter((t) => !t.isBuffer).map((t) => t.name);
      expect(segs.flatMap((s) => s.params), arch).toEqual(params.filter((p) => !p.startsWith('fc.')));
    }
  });
});
