// Communication benchmark: protobuf codec throughput, all-reduce time and bytes per step
// for ResNet-18/50-sized vectors with 2 workers, and train images/s with 1 and 2 workers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodeChunk, encodeChunk, type GradientChunk } from '../src/comm/codec.js';
import { decodeChunkPacked, encodeChunkPacked, encodeChunkProtobufjs } from './codecs.js';
import { startCluster, type Placement, type ReplicaConfig, type ShardSample } from '../src/coordinator/cluster.js';
import { planEpoch } from '../src/coordinator/sharder.js';
import { tensorSpecs } from '../src/model/resnet.js';

const log = (s: string): void => console.log(s);

function timeIt(fn: () => void, minMs: number): number {
  fn(); // warm-up
  let reps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs) {
    fn();
    reps++;
  }
  return (performance.now() - t0) / reps / 1000;
}

function codecBench(quick: boolean): Record<string, unknown> {
  const n = quick ? 1 << 18 : 1 << 20;
  const payload = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const chunk: GradientChunk = { runId: 'bench', seq: 1, bucket: 0, offset: 0, phase: 0, round: 0, payload };
  const bytes = n * 4;
  const enc = encodeChunk(chunk);
  const encS = timeIt(() => encodeChunk(chunk), quick ? 200 : 1000);
  const decS = timeIt(() => decodeChunk(enc), quick ? 200 : 1000);
  const pjsEncS = timeIt(() => encodeChunkProtobufjs(chunk), quick ? 200 : 1000);
  const pk = encodeChunkPacked(chunk);
  const pEncS = timeIt(() => encodeChunkPacked(chunk), quick ? 200 : 1000);
  const pDecS = timeIt(() => decodeChunkPacked(pk), quick ? 200 : 1000);
  const r = {
    payloadMiB: bytes / 2 ** 20,
    bytesField: { encodeGBps: bytes / encS / 1e9, decodeGBps: bytes / decS / 1e9, wireBytes: enc.length, encodeAllProtobufjsGBps: bytes / pjsEncS / 1e9 },
    repeatedFloat: { encodeGBps: bytes / pEncS / 1e9, decodeGBps: bytes / pDecS / 1e9, wireBytes: pk.length },
  };
  log(`protobuf (${r.payloadMiB} MiB chunk, crc32 included): bytes field encode ${r.bytesField.encodeGBps.toFixed(2)} GB/s (${r.bytesField.encodeAllProtobufjsGBps.toFixed(2)} with protobufjs copying the payload), decode ${r.bytesField.decodeGBps.toFixed(2)} GB/s; ` +
    `repeated float encode ${r.repeatedFloat.encodeGBps.toFixed(3)} GB/s, decode ${r.repeatedFloat.decodeGBps.toFixed(3)} GB/s`);
  return r;
}

/** Floats all-reduced per step for an architecture: parameters + BN buffers + 1 flag. */
function stepVectorLength(arch: 'resnet18' | 'resnet50', numClasses: number): { params: number; total: number } {
  let params = 0;
  let buffers = 0;
  for (const s of tensorSpecs(arch, numClasses)) {
    const size = s.shape.reduce((a, b) => a * b, 1);
    if (s.isBuffer) buffers += size;
    else params += size;
  }
  return { params, total: params + buffers + 1 };
}

async function allReduceBench(quick: boolean): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const placements: Placement[] = quick ? [{ kind: 'threads', n: 2 }] : [{ kind: 'threads', n: 2 }, { kind: 'processes', n: 2 }];
  for (const placement of placements) {
    const c = await startCluster({ placement, replica: null });
    try {
      for (const arch of ['resnet18', 'resnet50'] as const) {
        const { params, total } = stepVectorLength(arch, 2);
        const reps = quick ? 1 : 3;
        const vecs = [0, 1].map((r) => Float32Array.from({ length: total }, (_, i) => ((i * (r + 3)) % 1000) / 1000));
        await c.allReduce(vecs.map((v) => v.slice())); // warm-up
        let seconds = 0;
        let bytes = 0;
        for (let k = 0; k < reps; k++) {
          const res = await c.allReduce(vecs.map((v) => v.slice()));
          seconds += Math.max(...res.stats.map((s) => s.seconds));
          bytes = res.stats.reduce((s, x) => s + x.bytesSent, 0);
        }
        const key = `${placement.kind}_${arch}`;
        out[key] = { floats: total, params, seconds: seconds / reps, bytesPerStep: bytes, bytesPerWorker: bytes / 2, GBps: bytes / 2 / (seconds / reps) / 1e9 };
        log(`all-reduce ${arch} (${(total / 1e6).toFixed(2)} M floats) on 2 ${placement.kind}: ${(seconds / reps).toFixed(3)} s/step, ${(bytes / 2 ** 20).toFixed(1)} MiB sent per step (all workers)`);
      }
    } finally {
      await c.close();
    }
  }
  return out;
}

async function makeImages(dir: string, n: number, size: number): Promise<ShardSample[]> {
  const out: ShardSample[] = [];
  const G = size / 32;
  for (let i = 0; i < n; i++) {
    const raw = Buffer.alloc(size * size * 3);
    for (let j = 0; j < raw.length; j++) raw[j] = (j * 13 + i * 71) & 255;
    const p = path.join(dir, `b${i}.png`);
    await sharp(raw, { raw: { width: size, height: size, channels: 3 } }).png().toFile(p);
    const att = i % 2 === 0;
    out.push({ index: i, path: p, fileName: `b${i}.png`, label: i % 2, target: att ? new Float32Array(G * G).fill(0.5) : null, predWeight: 1, attWeight: att ? 1 : 0, flip: false });
  }
  return out;
}

async function trainBench(quick: boolean): Promise<Record<string, unknown>> {
  const size = 64;
  const globalBatch = 16;
  const steps = quick ? 3 : 6;
  const arch = quick ? 'tiny18' : 'resnet18';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-bench-comm-'));
  const out: Record<string, unknown> = { arch, inputSize: size, globalBatch };
  try {
    const samples = await makeImages(dir, globalBatch * 2, size);
    const replica: ReplicaConfig = {
      backend: 'wasm', arch, numClasses: 2, inputSize: size, seed: 1, lr: 1e-4, attentionWeight: 1,
      camMode: 'closed', microBatch: 8, pipelineThreads: 1, originalFlipBug: false,
    };
    const ips: Record<number, number> = {};
    for (const n of [1, 2]) {
      const c = await startCluster({ placement: { kind: 'threads', n }, replica });
      try {
        const hasAtt = (i: number): boolean => samples[i].attWeight > 0;
        let step = 0;
        let images = 0;
        let seconds = 0;
        let arS = 0;
        let arWaitS = 0;
        let computeS = 0;
        for (let epoch = 0; step < steps + 1; epoch++) {
          const plan = planEpoch({ n: samples.length, seed: 1, epoch, trainBatch: globalBatch, world: n, hasAttention: hasAtt });
          for (let b = 0; b < plan.steps.length && step < steps + 1; b++, step++) {
            const m = await c.trainStep({ step, epoch, shards: plan.steps[b].map((s) => s.map((i) => samples[i])), norm: plan.norms[b] });
            if (step === 0) continue; // warm-up (image decode, kernel compilation)
            images += m.n;
            seconds += m.seconds;
            arS += Math.max(...m.workers.map((w) => w.timings.allReduceS));
            arWaitS += Math.max(...m.workers.map((w) => w.timings.allReduceWaitS));
            computeS += Math.max(...m.workers.map((w) => w.timings.computeS));
          }
        }
        ips[n] = images / seconds;
        out[`workers${n}`] = { imagesPerSecond: ips[n], stepSeconds: seconds / steps, computeSeconds: computeS / steps, allReduceSeconds: arS / steps, allReduceWaitSeconds: arWaitS / steps };
        log(`train ${arch} @${size}px, global batch ${globalBatch}, ${n} worker thread${n > 1 ? 's' : ''}: ${ips[n].toFixed(1)} images/s (all-reduce ${(arS / steps * 1000).toFixed(0)} ms/step, of which ${(arWaitS / steps * 1000).toFixed(0)} ms waiting for the slower worker)`);
      } finally {
        await c.close();
      }
    }
    out.scalingEfficiency = ips[2] / (2 * ips[1]);
    out.cores = os.cpus().length;
    log(`scaling efficiency 1 -> 2 workers: ${((out.scalingEfficiency as number) * 100).toFixed(0)}% (${os.cpus().length} cores)`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

export async function bench(opts: { quick: boolean }): Promise<Record<string, unknown>> {
  return {
    protobuf: codecBench(opts.quick),
    allReduce: await allReduceBench(opts.quick),
    train: await trainBench(opts.quick),
  };
}
