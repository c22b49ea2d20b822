// The worker cluster with the real replica (tiny18, 64 px, WASM). Workers load compiled
// code from dist/: run `npm run build` first (npm test does it).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceAllReduce } from './helpers/ring_oracle.js';
import { startCluster, WorkerFailedError, type Cluster, type ReplicaConfig, type ShardSample } from '../src/coordinator/cluster.js';
import { autoGpus, validateGpus, parseGpuList } from '../src/coordinator/placement.js';
import { placementFrom } from '../src/cli/runtime_options.js';
import { evalShards, planEpoch } from '../src/coordinator/sharder.js';
import { GradiaInputError } from '../src/util/errors.js';
import { compiledEntry } from '../src/util/paths.js';
import { tensorSpecs } from '../src/model/resnet.js';
import { faultHooks } from './helpers/fault_hooks.js';

const S = 64;
const G = S / 32;
const N = 12;
let dir: string;
let samples: ShardSample[];

const base: ReplicaConfig = {
  backend: 'wasm', arch: 'tiny18', numClasses: 2, inputSize: S, seed: 5, lr: 1e-3, attentionWeight: 1,
  camMode: 'closed', microBatch: 4, pipelineThreads: 1, originalFlipBug: false,
};

const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const hasAtt = (i: number): boolean => samples[i].attWeight > 0;

beforeAll(async () => {
  if (!fs.existsSync(compiledEntry('worker/entry'))) throw new Error('dist/ is missing: run `npm run build` before this test');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-cluster-test-'));
  samples = [];
  for (let i = 0; i < N; i++) {
    const raw = Buffer.alloc(S * S * 3);
    // class 1: bright left half; class 0: bright right half; plus a per-image pattern
    const label = i % 2;
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) for (let c = 0; c < 3; c++) {
      const left = x < S / 2;
      raw[(y * S + x) * 3 + c] = ((left === (label === 1) ? 200 : 40) + ((x * 7 + y * 3 + i * 29 + c * 50) % 40)) & 255;
    }
    const p = path.join(dir, `img${i}.png`);
    await sharp(raw, { raw: { width: S, height: S, channels: 3 } }).png().toFile(p);
    const withMap = i % 3 === 0;
    const target = withMap ? Float32Array.from({ length: G * G }, (_, k) => (k % G === 0 ? 1 : 0.25)) : null;
    samples.push({ index: i, path: p, fileName: `img${i}.png`, label, target, predWeight: 1, attWeight: withMap ? 1 : 0, flip: false });
  }
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `epochs` epochs of global batches of 6 on `world` workers; returns the cluster (open) and losses. */
async function train(cluster: Cluster, world: number, steps: number, opts: { shardsOf?: (batch: number[]) => number[][] } = {}): Promise<number[]> {
  const losses: number[] = [];
  const tensorCounts: number[] = [];
  let step = 0;
  for (let epoch = 0; step < steps; epoch++) {
    // With shardsOf, the caller splits the (1-worker) global batch itself.
    const plan = planEpoch({ n: N, seed: 1, epoch, trainBatch: 6, world: opts.shardsOf ? 1 : world, hasAttention: hasAtt });
    for (let b = 0; b < plan.steps.length && step < steps; b++, step++) {
      const idx = opts.shardsOf ? opts.shardsOf(plan.steps[b].flat()) : plan.steps[b];
      const shards = idx.map((s) => s.map((i) => ({ ...samples[i], flip: (i + epoch) % 2 === 0 })));
      const m = await cluster.trainStep({ step, epoch, shards, norm: plan.norms[b] });
      expect(m.n).toBe(plan.norms[b].globalBatch);
      expect(m.nAtt).toBe(plan.norms[b].globalAttCount);
      for (const w of m.workers) {
        expect(w.timings.allReduceWaitS).toBeLessThanOrEqual(w.timings.allReduceS);
        expect(w.timings.totalS).toBeGreaterThanOrEqual(w.timings.computeS);
        expect(w.allReduceBytes > 0).toBe(world > 1);
        // no tensor leaks: the count is the same after every step
        tensorCounts[w.rank] ??= w.memory.numTensors;
        expect(w.memory.numTensors).toBe(tensorCounts[w.rank]);
      }
      losses.push(m.taskLossSum / m.n);
    }
  }
  return losses;
}

describe('cluster: communication only', () => {
  it('all-reduces between 3 threads and between 2 processes', async () => {
    for (const placement of [{ kind: 'threads', n: 3 }, { kind: 'processes', n: 2 }] as const) {
      const c = await startCluster({ placement, replica: null, bucketSize: 100 });
      try {
        const vecs = Array.from({ length: c.size }, (_, r) => Float32Array.from({ length: 333 }, (_, i) => Math.sin(i * (r + 1)) * 10 ** ((i % 7) - 3)));
        const ref = referenceAllReduce(vecs, 100);
        const { results, stats } = await c.allReduce(vecs.map((v) => v.slice()));
        for (const r of results) expect(bits(r).equals(bits(ref))).toBe(true);
        // every value crosses R-1 links in each phase: 2 N floats of payload in all,
        // plus a few dozen header bytes per message
        const payload = 2 * (c.size - 1) * 333 * 4;
        const sent = stats.reduce((a, s) => a + s.bytesSent, 0);
        const messages = stats.reduce((a, s) => a + s.messages, 0);
        expect(sent).toBeGreaterThan(payload);
        expect(sent).toBeLessThan(payload + 64 * messages);
      } finally {
        await c.close();
      }
    }
  });
});

describe('cluster: training', () => {
  it('same seed, 2 workers, twice: bitwise-identical weights; processes agree with threads', async () => {
    const runs: { sum: string; params: Float32Array; losses: number[] }[] = [];
    for (const kind of ['threads', 'threads', 'processes'] as const) {
      const c = await startCluster({ placement: { kind, n: 2 }, replica: base, checkEvery: 2 });
      try {
        expect(c.info.map((i) => i.backend)).toEqual(['wasm', 'wasm']);
        const losses = await train(c, 2, 3);
        const st = await c.getState();
        runs.push({ sum: await c.checkWeights(), params: st.params, losses });
      } finally {
        await c.close();
      }
    }
    expect(runs[1].sum).toBe(runs[0].sum);
    expect(bits(runs[1].params).equals(bits(runs[0].params))).toBe(true);
    expect(runs[1].losses).toEqual(runs[0].losses);
    expect(runs[2].sum).toBe(runs[0].sum);
    expect(bits(runs[2].params).equals(bits(runs[0].params))).toBe(true);
  });

  it('1 vs 2 workers with BN frozen: the same losses within 1e-5 and weights within 1% of one Adam step', async () => {
    const out: Float32Array[] = [];
    const init: Float32Array[] = [];
    const curves: number[][] = [];
    for (const n of [1, 2]) {
      const c = await startCluster({ placement: { kind: 'threads', n }, replica: { ...base, freezeBn: true, microBatch: 2 } });
      try {
        init.push((await c.getState()).params);
        curves.push(await train(c, n, 3));
        out.push((await c.getState()).params);
      } finally {
        await c.close();
      }
    }
    expect(bits(init[0]).equals(bits(init[1]))).toBe(true);
    let maxDiff = 0;
    let maxAbs = 0;
    let moved = 0;
    for (let i = 0; i < out[0].length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(out[0][i] - out[1][i]));
      maxAbs = Math.max(maxAbs, Math.abs(out[0][i]));
      moved = Math.max(moved, Math.abs(out[0][i] - init[0][i]));
    }
    console.log(`frozen BN, 1 vs 2 workers after 3 steps: max |dw| ${maxDiff.toExponential(2)} (largest weight ${maxAbs.toFixed(3)}, lr ${base.lr})`);
    expect(moved).toBeGreaterThan(base.lr); // the steps did change the weights
    // Gradients agree to float rounding; Adam's m/sqrt(v) can magnify that only for
    // near-zero gradients, and never beyond a fraction of one step (lr).
    expect(maxDiff).toBeLessThan(0.01 * base.lr);
    for (let i = 0; i < 3; i++) expect(Math.abs(curves[0][i] - curves[1][i])).toBeLessThan(1e-5);
  });

  it('1 vs 2 workers with BN training: the same loss curve within 1e-5 when micro-batches align with the shards', async () => {
    // A global batch of 6 on one worker with micro-batch 3 forms the same BN batches as
    // two workers holding 3 samples each: the losses match up to float summation order.
    const curves: number[][] = [];
    for (const n of [1, 2]) {
      const c = await startCluster({ placement: { kind: 'threads', n }, replica: { ...base, microBatch: 3 } });
      try {
        curves.push(await train(c, n, 4, { shardsOf: (batch) => (n === 1 ? [batch] : [batch.slice(0, 3), batch.slice(3)]) }));
      } finally {
        await c.close();
      }
    }
    for (let i = 0; i < curves[0].length; i++) expect(Math.abs(curves[0][i] - curves[1][i])).toBeLessThan(1e-5 * Math.max(1, Math.abs(curves[0][i])));
    expect(new Set(curves[0]).size).toBeGreaterThan(1);
  });

  it('synced BN buffers after a 2-worker step are the average of each shard\'s forward alone (float32, bit for bit)', async () => {
    // Oracle: one replica from the same start takes each shard alone; its running stats
    // after that step are what that shard's forward gives. The 2-worker step must leave the
    // element-wise float32 mean of the two on both replicas (shards of 3 and 2: the average
    // is per replica, not per sample).
    const A = [0, 1, 2].map((i) => ({ ...samples[i], flip: i === 1 }));
    const B = [3, 4].map((i) => ({ ...samples[i], flip: false }));
    const norm = { globalBatch: 5, globalAttCount: 2 };
    const one = await startCluster({ placement: { kind: 'threads', n: 1 }, replica: base });
    let alone: Float32Array[];
    let init: Float32Array;
    try {
      const start = await one.getState();
      init = start.buffers;
      alone = [];
      for (const shard of [A, B]) {
        await one.setState(start);
        await one.trainStep({ step: 0, epoch: 0, shards: [shard], norm });
        alone.push((await one.getState()).buffers);
      }
    } finally {
      await one.close();
    }
    const expected = new Float32Array(init.length);
    for (let i = 0; i < expected.length; i++) expected[i] = Math.fround(Math.fround(alone[0][i] + alone[1][i]) / 2);
    // The shards' statistics differ, and both moved away from the start.
    expect(bits(alone[0]).equals(bits(alone[1]))).toBe(false);
    expect(bits(alone[0]).equals(bits(init))).toBe(false);
    const two = await startCluster({ placement: { kind: 'threads', n: 2 }, replica: base });
    try {
      await two.trainStep({ step: 0, epoch: 0, shards: [A, B], norm });
      const got = (await two.getState()).buffers; // getState checks both replicas agree
      let o = 0;
      for (const spec of tensorSpecs('tiny18', 2).filter((t) => t.isBuffer)) {
        const n = spec.shape.reduce((a, b) => a * b, 1);
        expect(bits(got.subarray(o, o + n)).equals(bits(expected.subarray(o, o + n))), spec.name).toBe(true);
        o += n;
      }
      expect(o).toBe(got.length);
    } finally {
      await two.close();
    }
  });

  it('a flipped sample flips its attention map too (unless originalFlipBug)', async () => {
    // Training on image X flipped with map T must equal training on mirror(X) with mirror(T).
    const T = Float32Array.from([1, 0.2, 1, 0.2]); // G = 2, row-major: left column attended
    const Tm = Float32Array.from([0.2, 1, 0.2, 1]);
    const mirrored = path.join(dir, 'mirrored.png');
    await sharp(samples[0].path).flop().png().toFile(mirrored);
    const one = { ...samples[0], target: T, attWeight: 1 };
    // one cluster per config; each run starts from the initial state (setState)
    const runs = async (list: ShardSample[], cfg: Partial<ReplicaConfig>): Promise<string[]> => {
      const c = await startCluster({ placement: { kind: 'threads', n: 1 }, replica: { ...base, ...cfg } });
      try {
        const init = await c.getState();
        const out: string[] = [];
        for (const sample of list) {
          await c.setState(init);
          await c.trainStep({ step: 0, shards: [[sample, { ...samples[1], flip: false }]], norm: { globalBatch: 2, globalAttCount: 1 } });
          out.push(await c.checkWeights());
        }
        return out;
      } finally {
        await c.close();
      }
    };
    const [flipped, mirror] = await runs([{ ...one, flip: true }, { ...one, path: mirrored, target: Tm, flip: false }], {});
    expect(mirror).toBe(flipped);
    const [buggy, mirrorSameMap] = await runs([{ ...one, flip: true }, { ...one, path: mirrored, target: T, flip: false }], { originalFlipBug: true });
    expect(buggy).not.toBe(flipped);
    expect(mirrorSameMap).toBe(buggy);
  });

  it('an empty shard contributes nothing (global batch smaller than the world)', async () => {
    const c = await startCluster({ placement: { kind: 'threads', n: 2 }, replica: base });
    try {
      const m = await c.trainStep({ step: 0, epoch: 0, shards: [[samples[0]], []], norm: { globalBatch: 1, globalAttCount: 1 } });
      expect(m.workers.map((w) => w.n)).toEqual([1, 0]);
      await c.checkWeights();
    } finally {
      await c.close();
    }
  });

  it('getState/setState resumes bit for bit; evaluate covers every sample once and matches 1 worker', async () => {
    const a = await startCluster({ placement: { kind: 'threads', n: 2 }, replica: base });
    const b = await startCluster({ placement: { kind: 'threads', n: 1 }, replica: base });
    try {
      await train(a, 2, 2);
      const state = await a.getState();
      await b.setState(state);
      const evalSamples = samples.map((s) => ({ path: s.path, fileName: s.fileName, label: s.label, humanMap: null }));
      const two = await a.evaluate(evalShards(N, 2).map((idx) => idx.map((i) => evalSamples[i])));
      const one = await b.evaluate([evalSamples]);
      expect(two).toHaveLength(N);
      for (let i = 0; i < N; i++) {
        expect(two[i].pred).toBe(one[i].pred);
        expect(two[i].logits).toHaveLength(2);
        expect(two[i].cam).toHaveLength(G * G);
        for (let k = 0; k < 2; k++) expect(two[i].logits[k]).toBeCloseTo(one[i].logits[k], 4);
      }
      // resume: one more step on both from the same state gives the same bits
      const shards2 = [[samples[1], samples[2]], [samples[3]]];
      const norm = { globalBatch: 3, globalAttCount: 1 };
      await a.trainStep({ step: 2, epoch: 1, shards: shards2, norm, microBatch: 8 });
      // exact resume on the same world size
      const c = await startCluster({ placement: { kind: 'threads', n: 2 }, replica: base });
      try {
        await c.setState(state);
        await c.trainStep({ step: 2, epoch: 1, shards: shards2, norm, microBatch: 8 });
        expect(await c.checkWeights()).toBe(await a.checkWeights());
      } finally {
        await c.close();
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('cluster: faults', () => {
  const step0 = () => ({ step: 0, epoch: 0, shards: [[samples[0], samples[1]], [samples[2], samples[3]]], norm: { globalBatch: 4, globalAttCount: 1 } });
  const step1 = () => ({ ...step0(), step: 1 });

  for (const kind of ['threads', 'processes'] as const) {
    it(`a worker ${kind === 'threads' ? 'thread' : 'process'} that exits mid-step fails the step naming it; the cluster closes`, async () => {
      const c = await startCluster({ placement: { kind, n: 2 }, replica: { ...base, hooks: faultHooks({ rank: 1, step: 1, kind: 'exit' }) } });
      const pids = c.info.map((i) => i.pid);
      await c.trainStep(step0());
      const err = await c.trainStep(step1()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkerFailedError);
      expect((err as Error).message).toMatch(/^worker 1 \((thread|pid) \d+\) exited with code 3$/);
      await expect(c.trainStep(step0())).rejects.toThrow(/has failed and was closed: worker 1/);
      if (kind === 'processes') {
        for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
      }
      await c.close();
    });
  }

  it('a worker process killed from outside (SIGKILL) during a step is named with the signal', async () => {
    const c = await startCluster({ placement: { kind: 'processes', n: 2 }, replica: base });
    await c.trainStep(step0());
    const pending = c.trainStep(step1());
    process.kill(c.info[0].pid, 'SIGKILL');
    await expect(pending).rejects.toThrow(/^worker 0 \(pid \d+\) was killed by SIGKILL$/);
    expect(() => process.kill(c.info[1].pid, 0)).toThrow(); // the other worker was stopped too
    await c.close();
  });

  it('a worker process killed between steps is named by its signal, not by the EPIPE of the next message', async () => {
    // The next step's message reaches a dead process's socket before its exit event arrives.
    for (let round = 0; round < 3; round++) {
      const c = await startCluster({ placement: { kind: 'processes', n: 2 }, replica: base });
      process.kill(c.info[1].pid, 'SIGKILL');
      // Block this thread (no event is handled) until the process has surely died: the step's
      // message then meets a closed socket before the exit event is seen.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
      await expect(c.trainStep(step0())).rejects.toThrow(/^worker 1 \(pid \d+\) was killed by SIGKILL$/);
      await c.close();
    }
  });

  it('an error thrown in a worker fails the step with its message', async () => {
    const c = await startCluster({ placement: { kind: 'threads', n: 2 }, replica: { ...base, hooks: faultHooks({ rank: 0, step: 0, kind: 'throw' }) } });
    await expect(c.trainStep(step0())).rejects.toThrow(/^worker 0 \(thread \d+\) failed in trainStep \(step 0\): injected fault at step 0$/);
    await c.close();
  });

  it('a worker that stops answering is named after the timeout', async () => {
    const c = await startCluster({ placement: { kind: 'threads', n: 2 }, replica: { ...base, hooks: faultHooks({ rank: 1, step: 1, kind: 'hang' }) }, timeoutMs: 3000 });
    await c.trainStep(step0());
    await expect(c.trainStep(step1())).rejects.toThrow(/^worker 1 \(thread \d+\) stopped answering \(trainStep \(step 1\) not finished within 3 s/);
    await c.close();
  });

  it('replicas start from a safetensors weights file', async () => {
    const { createModel, saveWeights, readParams, disposeModel } = await import('../src/model/index.js');
    const { initBackend } = await import('../src/backend/select.js');
    await initBackend('cpu');
    const m = createModel('tiny18', 2, 99);
    const file = path.join(dir, 'w.safetensors');
    saveWeights(m, file);
    const want = readParams(m);
    disposeModel(m);
    const c = await startCluster({ placement: { kind: 'threads', n: 2 }, replica: { ...base, weights: file } });
    try {
      expect(bits((await c.getState()).params).equals(bits(want))).toBe(true);
    } finally {
      await c.close();
    }
  });

  it('bad input found by a worker is the one-line input error (not a worker fault)', async () => {
    const e1 = await startCluster({ placement: { kind: 'threads', n: 1 }, replica: { ...base, arch: 'resnet7' } }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(GradiaInputError);
    expect((e1 as Error).message).toMatch(/resnet7/);
    const c = await startCluster({ placement: { kind: 'threads', n: 2 }, replica: base });
    const bad = path.join(dir, 'broken.png');
    fs.writeFileSync(bad, 'not an image');
    const shards = [[samples[0]], [{ ...samples[1], path: bad }]];
    const e2 = await c.trainStep({ step: 0, epoch: 0, shards, norm: { globalBatch: 2, globalAttCount: 1 } }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(GradiaInputError);
    expect((e2 as Error).message).toContain('broken.png');
    await c.close();
  });
});

describe('placement', () => {
  const probe = (installed: boolean, ids: number[] | { error: string }) => ({ gpuBackendInstalled: () => installed, listGpus: () => ids });

  it('--gpus: no GPU backend, or an id that does not exist, is one clear error before anything starts', async () => {
    expect(() => validateGpus([0], probe(false, [0]))).toThrow(/no GPU backend is installed \(@tensorflow\/tfjs-node-gpu is missing/);
    expect(() => validateGpus([0, 2], probe(true, [0, 1]))).toThrow(/^--gpus: GPU 2 does not exist \(this machine has GPUs 0, 1\)$/);
    expect(() => validateGpus([0], probe(true, { error: 'nvidia-smi was not found' }))).toThrow(/cannot list this machine's GPUs: nvidia-smi was not found/);
    expect(() => validateGpus([1, 0], probe(true, [0, 1]))).not.toThrow();
    expect(parseGpuList('0, 1')).toEqual([0, 1]);
    expect(() => parseGpuList('0,x')).toThrow(GradiaInputError);
    expect(() => parseGpuList('1,1')).toThrow(/listed twice/);
    // on this machine (no tfjs-node-gpu): startCluster refuses before starting workers
    await expect(startCluster({ placement: { kind: 'gpus', ids: [0] }, replica: base, gpuProbe: probe(false, []) })).rejects.toThrow(GradiaInputError);
  });

  it('without --gpus/--workers the same command uses every GPU when tfjs-node-gpu is installed, else CPU workers', async () => {
    expect(autoGpus(probe(true, [0, 1]), {})).toEqual([0, 1]);
    expect(autoGpus(probe(false, [0, 1]), {})).toEqual([]);
    expect(autoGpus(probe(true, { error: 'nvidia-smi was not found' }), {})).toEqual([]);
    expect(autoGpus(probe(true, [0, 1, 2]), { CUDA_VISIBLE_DEVICES: '2,0' })).toEqual([2, 0]);
    expect(autoGpus(probe(true, [0, 1]), { CUDA_VISIBLE_DEVICES: '' })).toEqual([]);
    expect(autoGpus(probe(true, [0, 1]), { CUDA_VISIBLE_DEVICES: 'GPU-8a2c' })).toEqual([]);
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    const flags = { backend: 'auto', loaderThreads: 1, stepTimeout: 60 };
    expect(await placementFrom(flags, probe(true, [0, 1]), log)).toEqual({ kind: 'gpus', ids: [0, 1] });
    expect(lines).toEqual(['gradia-dist: using GPUs 0, 1 (tfjs-node-gpu is installed), one worker process each; --workers N trains on CPU instead']);
    // a single GPU: the same code with one replica
    expect(await placementFrom(flags, probe(true, [0]), log)).toEqual({ kind: 'gpus', ids: [0] });
    // explicit CPU choices win; no GPU backend or no GPU: CPU workers
    expect((await placementFrom({ ...flags, workers: 2 }, probe(true, [0, 1]), log)).kind).toBe('threads');
    expect((await placementFrom({ ...flags, processes: true }, probe(true, [0, 1]), log)).kind).toBe('processes');
    expect((await placementFrom({ ...flags, backend: 'wasm' }, probe(true, [0, 1]), log)).kind).toBe('threads');
    expect((await placementFrom(flags, probe(false, [0, 1]), log)).kind).toBe('threads');
    expect((await placementFrom(flags, probe(true, []), log)).kind).toBe('threads');
    expect(lines.length).toBe(2);
  });

  it('gpus placement: one process per GPU with CUDA_VISIBLE_DEVICES, ring between them, tensorflow backend', async () => {
    const fake = { gpuBackendInstalled: () => true, listGpus: () => [0, 1, 2] };
    const c = await startCluster({ placement: { kind: 'gpus', ids: [2, 0] }, replica: null, gpuProbe: fake });
    try {
      const st = await c.status();
      expect(st.map((s) => s.cudaVisibleDevices)).toEqual(['2', '0']);
      expect(new Set(st.map((s) => s.pid)).size).toBe(2);
      expect(st.every((s) => s.pid !== process.pid)).toBe(true);
      expect(c.workerNames[0]).toMatch(/^worker 0 \(pid \d+, GPU 2\)$/);
      const { results } = await c.allReduce([Float32Array.of(1, 2), Float32Array.of(10, 20)]);
      expect(Array.from(results[1])).toEqual([11, 22]);
    } finally {
      await c.close();
    }
    // the replicas ask for the tensorflow backend, which is not installed here
    await expect(startCluster({ placement: { kind: 'gpus', ids: [0] }, replica: base, gpuProbe: fake })).rejects.toThrow(/--backend tensorflow: .*not installed/);
  });
});
