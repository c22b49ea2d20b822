// `npm run bench onednn_cluster`: workers vs threads on the `onednn` backend, through the real
// cluster (startCluster, worker threads, ring all-reduce, Adam on every replica).
//
// For ResNet-18 and ResNet-50 at 224 px and a global batch of 16 it times Cluster.trainStep with
//   - 1 worker  x `cores` oneDNN threads (micro-batch 16), and
//   - `cores` workers x 1 oneDNN thread (micro-batch 16 / cores),
// alternating the two `rounds` times (the machine may be shared: noise then shows as spread).
// A step is what the trainer does per global batch: each worker loads its images (sharp, from a
// generated 224 px data set on disk), computes the phase-1 loss's gradients, the ring sums them,
// and every replica applies Adam. Each configuration gets a fresh cluster, 1 warm-up step, then
// `steps` timed steps on the same 16 images; the rate is from the fastest step (others on the
// machine only add time). The workers' own timings (data, compute, all-reduce, optimizer) of that
// step are reported too. PyTorch (Debian python3-torch, `cores` threads) is measured in the same
// rounds with bench/onednn.ts's script (forward + cross-entropy + backward + Adam).
// Env: GRADIA_BENCH_ARCHS (default resnet18,resnet50), GRADIA_BENCH_ROUNDS (default 2, quick 1),
//      GRADIA_BENCH_SKIP (comma list: torch), GRADIA_BENCH_OUT=file.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCluster, type Cluster, type ShardSample, type StepMetrics } from '../src/coordinator/cluster.js';
import { registerOnednnBackend } from '../src/backend/onednn/index.js';
import { generateDataSet } from '../src/data/generator.js';
import { buildTrainSet } from '../src/data/phase_dataset.js';
import { torchPython, torchRate } from './onednn.js';
import type { ArchName } from '../src/model/types.js';
import { checkArch } from '../src/model/resnet.js';

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

interface ConfigResult {
  workers: number;
  threads: number;
  imagesPerS: number;
  stepMs: number[];
  /** worker timings of the fastest step, seconds (max over workers) */
  best: { dataS: number; computeS: number; allReduceS: number; allReduceWaitS: number; optimizerS: number };
}

async function clusterRate(arch: ArchName, size: number, samples: ShardSample[], workers: number, threads: number, steps: number): Promise<ConfigResult> {
  const batch = samples.length;
  const per = Math.ceil(batch / workers);
  const shards = Array.from({ length: workers }, (_, r) => samples.slice(r * per, (r + 1) * per));
  let cluster: Cluster | null = null;
  try {
    cluster = await startCluster({
      placement: { kind: 'threads', n: workers },
      replica: {
        backend: 'onednn', arch, numClasses: 2, inputSize: size, seed: 0, weights: null, lr: 1e-4,
        attentionWeight: 0, camMode: 'closed', microBatch: per, threads, pipelineThreads: 1, originalFlipBug: false,
      },
      timeoutMs: 0,
    });
    const be = cluster.info.map((i) => i.backend);
    if (be.some((b) => b !== 'onednn')) throw new Error(`the replicas run on ${be.join(', ')}, not onednn`);
    const norm = { globalBatch: batch, globalAttCount: 0 };
    const ms: number[] = [];
    let bestStep: StepMetrics | null = null;
    for (let s = 0; s <= steps; s++) {
      const m = await cluster.trainStep({ step: s, shards, norm, microBatch: per });
      if (s === 0) continue; // warm-up: primitive creation, buffer pool, first image decode
      ms.push(m.seconds * 1000);
      if (!bestStep || m.seconds < bestStep.seconds) bestStep = m;
    }
    const w = bestStep!.workers;
    const mx = (k: keyof ConfigResult['best']) => round(Math.max(...w.map((x) => x.timings[k])), 3);
    return {
      workers, threads,
      imagesPerS: batch / Math.min(...ms) * 1000,
      stepMs: ms.map((x) => Math.round(x)),
      best: { dataS: mx('dataS'), computeS: mx('computeS'), allReduceS: mx('allReduceS'), allReduceWaitS: mx('allReduceWaitS'), optimizerS: mx('optimizerS') },
    };
  } finally {
    await cluster?.close();
  }
}

export async function bench(opts: { quick: boolean }): Promise<Record<string, unknown>> {
  const reg = await registerOnednnBackend();
  if (!reg.ok) {
    console.log(`onednn_cluster: skipped: ${reg.reason}`);
    return { skipped: reg.reason };
  }
  const cores = os.cpus().length;
  const size = opts.quick ? 64 : 224;
  const batch = opts.quick ? 4 : 16;
  const steps = opts.quick ? 1 : 3;
  const rounds = Number(process.env.GRADIA_BENCH_ROUNDS) || (opts.quick ? 1 : 2);
  const archs = (process.env.GRADIA_BENCH_ARCHS ?? 'resnet18,resnet50').split(',').map(checkArch);
  const skip = new Set((process.env.GRADIA_BENCH_SKIP ?? '').split(','));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-bench-cluster-'));
  const out: Record<string, unknown> = {
    size, batch, cores, steps, rounds,
    step: 'Cluster.trainStep: image loading + phase-1 gradients + ring all-reduce + Adam; fastest of the timed steps after 1 warm-up',
  };
  try {
    await generateDataSet({ out: path.join(dir, 'data'), seed: 0, train: Math.max(batch, 2), val: 2, test: 2, size, spurious: 0.95 });
    const set = await buildTrainSet(path.join(dir, 'data'), { phase: 1, reasonability: false, grid: size / 32 });
    const samples: ShardSample[] = set.samples.slice(0, batch).map((s, i) => ({ ...s, index: i, flip: false }));
    const configs: [number, number][] = cores > 1 ? [[1, cores], [cores, 1]] : [[1, 1]];
    const py = skip.has('torch') ? null : torchPython();
    for (const arch of archs) {
      const best = new Map<string, ConfigResult>();
      const all: Record<string, number[]> = {};
      let torchBest: number | null = null;
      const torchAll: number[] = [];
      for (let r = 0; r < rounds; r++) {
        // alternate the order between rounds so that a change of load hits both configurations
        for (const [w, t] of r % 2 === 0 ? configs : [...configs].reverse()) {
          const key = `${w}x${t}`;
          const c = await clusterRate(arch, size, samples, w, t, steps);
          console.log(`${arch} onednn cluster ${w} worker(s) x ${t} thread(s): ${round(c.imagesPerS)} images/s, steps ${c.stepMs.join('/')} ms (best step: data ${c.best.dataS} s, compute ${c.best.computeS} s, all-reduce ${c.best.allReduceS} s of which waiting ${c.best.allReduceWaitS} s, Adam ${c.best.optimizerS} s) [load ${os.loadavg()[0].toFixed(2)}]`);
          (all[key] ??= []).push(round(c.imagesPerS));
          if (!best.has(key) || c.imagesPerS > best.get(key)!.imagesPerS) best.set(key, c);
        }
        if (py) {
          const t = torchRate(py, arch, size, batch, steps, cores);
          console.log(`${arch} pytorch ${String(t.torch ?? '')} (${cores} threads, one process): ${JSON.stringify(t.imagesPerS ?? t)} images/s`);
          if (typeof t.imagesPerS === 'number') {
            torchAll.push(round(t.imagesPerS));
            if (torchBest === null || t.imagesPerS > torchBest) torchBest = t.imagesPerS;
          }
        }
      }
      const res: Record<string, unknown> = {};
      for (const [k, c] of best) res[`onednn_${k}`] = { imagesPerS: round(c.imagesPerS), allRounds: all[k], stepMs: c.stepMs, bestStepWorkerS: c.best };
      res.torch = torchBest === null ? (py ? 'failed' : 'not installed (apt-get install python3-torch python3-torchvision)') : { imagesPerS: round(torchBest), allRounds: torchAll, threads: cores };
      if (cores > 1) {
        const a = best.get(`1x${cores}`)!.imagesPerS;
        const b = best.get(`${cores}x1`)!.imagesPerS;
        res.faster = b > a ? `${cores}x1` : `1x${cores}`;
        res.workersOverThreads = round(b / a);
        if (torchBest !== null) { res.best_over_torch = round(Math.max(a, b) / torchBest); }
        console.log(`${arch}: ${cores} workers x 1 thread / 1 worker x ${cores} threads = ${round(b / a)}; faster: ${res.faster}${torchBest !== null ? `; best onednn / PyTorch = ${res.best_over_torch}` : ''}`);
      }
      out[arch] = res;
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  out.machine = { cpus: cores, cpu: os.cpus()[0]?.model ?? 'unknown', memGiB: Math.round(os.totalmem() / 2 ** 30), loadavgAtEnd: os.loadavg().map((x) => round(x)) };
  if (process.env.GRADIA_BENCH_OUT) fs.writeFileSync(process.env.GRADIA_BENCH_OUT, JSON.stringify(out, null, 2));
  return out;
}
