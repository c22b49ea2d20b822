// Each objective through the real cluster (tiny18, 64 px, WASM): 1 worker and 2 workers
// train the same global batches to the same weights (BN frozen, so only float summation
// order differs), with hand-made labels holding negative values; RES-G / RES-L's threshold
// comes from the whole global batch, so the 2-worker run sees the 1-worker run's threshold.
// RES-L's imputation network is in the all-reduced state: it moves, the replicas keep it
// bitwise identical (checksums), and a state saved mid-run resumes bit for bit.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster, type ReplicaConfig, type ShardSample } from '../src/coordinator/cluster.js';
import { compiledEntry } from '../src/util/paths.js';
import { tensorSpecs } from '../src/model/resnet.js';
import { OBJECTIVE_NAMES, type ObjectiveName } from '../src/model/objectives/types.js';
import type { Normaliser } from '../src/model/types.js';

const S = 64;
const G = S / 32;
const N = 8;
let dir: string;
let samples: ShardSample[];

const base: ReplicaConfig = {
  backend: 'wasm', arch: 'tiny18', numClasses: 2, inputSize: S, seed: 7, lr: 1e-3, attentionWeight: 1,
  camMode: 'closed', microBatch: 2, pipelineThreads: 1, originalFlipBug: false, freezeBn: true,
};
const resnetParams = tensorSpecs('tiny18', 2).filter((s) => !s.isBuffer).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);

beforeAll(async () => {
  if (!fs.existsSync(compiledEntry('worker/entry'))) throw new Error('dist/ is missing: run `npm run build` before this test');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-objectives-cluster-'));
  samples = [];
  for (let i = 0; i < N; i++) {
    const raw = Buffer.alloc(S * S * 3);
    const label = i % 2;
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) for (let c = 0; c < 3; c++) {
      raw[(y * S + x) * 3 + c] = (((x < S / 2) === (label === 1) ? 190 : 50) + ((x * 5 + y * 11 + i * 37 + c * 60) % 50)) & 255;
    }
    const p = path.join(dir, `img${i}.png`);
    await sharp(raw, { raw: { width: S, height: S, channels: 3 } }).png().toFile(p);
    const withMap = i !== 3;
    // positive where the class's bright half is, "do not look here" on one cell of the other half
    const target = withMap ? Float32Array.from({ length: G * G }, (_, k) => ((k % G === 0) === (label === 1) ? 1 : k === (i % (G * G)) ? -1 : 0)) : null;
    // full-resolution positive mask (S x S) for RES-L's imputation
    const fullMask = new Uint8Array(S * S);
    for (let y = 8; y < S - 8; y++) for (let x = 0; x < S; x++) if ((x < S / 2) === (label === 1) && (x + y + i) % 5 !== 0) fullMask[y * S + x] = 1;
    samples.push({
      index: i, path: p, fileName: `img${i}.png`, label, target, predWeight: 1, attWeight: withMap ? (i % 3 === 0 ? 1.5 : 1) : 0, flip: i % 2 === 1,
      fullMask: withMap ? fullMask : null,
    });
  }
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const BATCHES = [[0, 1, 2, 3], [4, 5, 6, 7]];
const normOf = (idx: number[]): Normaliser => ({ globalBatch: idx.length, globalAttCount: idx.filter((i) => samples[i]!.attWeight > 0).length });
/** World 2: the first half of each global batch to rank 0 (its micro-batches are rank 1's too). */
const shardsOf = (idx: number[], world: number) => (world === 1 ? [idx] : [idx.slice(0, 2), idx.slice(2)]).map((s) => s.map((i) => samples[i]!));

async function run(c: Cluster, world: number, steps: number[][]): Promise<number[]> {
  const att: number[] = [];
  for (const [k, idx] of steps.entries()) {
    const m = await c.trainStep({ step: k, epoch: 0, shards: shardsOf(idx, world), norm: normOf(idx) });
    expect(m.nonFinite).toBeUndefined();
    att.push(m.attLossSum);
  }
  return att;
}

describe('objectives: 1 worker vs 2 workers', () => {
  for (const objective of OBJECTIVE_NAMES) {
    it(`${objective}: the same attention losses and weights after 2 steps`, async () => {
      const out: Float32Array[] = [];
      const init: Float32Array[] = [];
      const att: number[][] = [];
      for (const world of [1, 2]) {
        const c = await startCluster({ placement: { kind: 'threads', n: world }, replica: { ...base, objective, imputation: 'd2', eta: 0.05 } });
        try {
          init.push((await c.getState()).params);
          att.push(await run(c, world, BATCHES));
          out.push((await c.getState()).params); // getState compares the replicas' checksums first
        } finally {
          await c.close();
        }
      }
      expect(out[0]!.length).toBe(resnetParams + (objective === 'res-l' ? 4 * 4 * 49 + 4 + 3 * (4 * 4 * 9 + 4) + 4 * 9 + 1 : 0));
      for (let s = 0; s < BATCHES.length; s++) {
        expect(att[0]![s]).toBeGreaterThan(0);
        expect(Math.abs(att[0]![s]! - att[1]![s]!), `step ${s}: ${att[0]![s]} vs ${att[1]![s]}`).toBeLessThan(1e-5 * Math.max(1, att[0]![s]!));
      }
      let maxDiff = 0;
      let moved = 0;
      let impMoved = 0;
      for (let i = 0; i < out[0]!.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(out[0]![i]! - out[1]![i]!));
        moved = Math.max(moved, Math.abs(out[0]![i]! - init[0]![i]!));
        if (i >= resnetParams) impMoved = Math.max(impMoved, Math.abs(out[1]![i]! - init[1]![i]!));
      }
      expect(moved).toBeGreaterThan(base.lr);
      expect(maxDiff, `max |w1 - w2| ${maxDiff}`).toBeLessThan(0.01 * base.lr);
      if (objective === 'res-l') expect(impMoved).toBeGreaterThan(base.lr); // the imputation network trains
    });
  }
});

describe('RES-L state', () => {
  it('the imputation network resumes bit for bit from a saved state (same world size)', async () => {
    const cfg = { ...base, objective: 'res-l' as ObjectiveName, imputation: 's2' as const, freezeBn: false };
    const a = await startCluster({ placement: { kind: 'threads', n: 2 }, replica: cfg });
    try {
      await run(a, 2, BATCHES.slice(0, 1));
      const state = await a.getState();
      await run(a, 2, BATCHES.slice(1));
      const b = await startCluster({ placement: { kind: 'threads', n: 2 }, replica: cfg });
      try {
        await b.setState(state);
        await run(b, 2, BATCHES.slice(1));
        const [sa, sb] = [await a.getState(), await b.getState()];
        expect(Buffer.from(sa.params.buffer).equals(Buffer.from(sb.params.buffer))).toBe(true);
        expect(Buffer.from(sa.adam.v.buffer).equals(Buffer.from(sb.adam.v.buffer))).toBe(true);
        expect(await b.checkWeights()).toBe(await a.checkWeights());
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
    }
  });
});
