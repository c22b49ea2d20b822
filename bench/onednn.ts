// `npm run bench onednn`: train-step throughput of ResNet-18/50 on the `onednn` backend vs WASM
// (and PyTorch through Debian's python3-torch when installed), plus raw oneDNN conv GFLOP/s.
//
// One train step = computeGradients (GRADIA loss with closed-form Grad-CAM attention term,
// forward + backward) on `batch` images + one Adam step on the flat parameters. PyTorch does
// the same network with cross-entropy + backward + torch.optim.Adam (no attention term).
// Rates use the fastest timed step; with GRADIA_BENCH_ROUNDS=k (default 2, quick 1) onednn and
// PyTorch are measured k times, alternating, and the best is kept (the machine may be shared).
// Env: GRADIA_BENCH_THREADS (default: all cores), GRADIA_BENCH_ARCHS (default resnet18,resnet50),
// GRADIA_BENCH_SKIP (comma list of onednn,wasm,torch), GRADIA_ONEDNN_PROFILE=1 (per-kernel times).
import os from 'node:os';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tf } from '../src/backend/tf.js';
import { registerOnednnBackend, setOnednnThreads, onednnInfo, kernelTimes } from '../src/backend/onednn/index.js';
import { createModel, disposeModel, computeGradients, readParams, writeParams, adamStep, createAdamState } from '../src/model/index.js';
import { convLayers } from '../src/model/index.js';
import type { ArchName, ConvLayer, TrainBatch } from '../src/model/index.js';
import { setConvGradMode } from '../src/model/conv.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
}

function makeBatch(n: number, size: number, classes: number): TrainBatch {
  const r = rng(1);
  const g = size / 32;
  return {
    n, size,
    images: Float32Array.from({ length: n * size * size * 3 }, () => r() * 2 - 1),
    labels: Int32Array.from({ length: n }, () => Math.floor(r() * classes)),
    predWeight: new Float32Array(n).fill(1),
    attWeight: Float32Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 1 : 0)),
    targets: Float32Array.from({ length: n * g * g }, () => r()),
  };
}

function split(b: TrainBatch, micro: number): TrainBatch[] {
  const out: TrainBatch[] = [];
  const per = b.size * b.size * 3;
  const g2 = (b.size / 32) ** 2;
  for (let i = 0; i < b.n; i += micro) {
    const j = Math.min(b.n, i + micro);
    out.push({
      n: j - i, size: b.size, images: b.images.subarray(i * per, j * per), labels: b.labels.subarray(i, j),
      predWeight: b.predWeight.subarray(i, j), attWeight: b.attWeight.subarray(i, j), targets: b.targets.subarray(i * g2, j * g2),
    });
  }
  return out;
}

/** images/s of the train step: the fastest of `steps` timed steps after one warm-up step (other jobs on
 *  a shared machine only ever add time, so the minimum is the best estimate of the machine's speed). */
async function trainRate(backend: string, arch: ArchName, size: number, batch: number, micro: number, steps: number): Promise<{ imagesPerS: number; stepMs: number[] }> {
  await tf.setBackend(backend);
  await tf.ready();
  // onednn has native conv backward kernels; WASM needs the model's forward-conv gradient
  setConvGradMode(backend === 'onednn' ? 'native' : 'forward');
  const classes = 1000;
  const model = createModel(arch, classes, 1);
  const b = makeBatch(batch, size, classes);
  const mbs = split(b, micro);
  const norm = { globalBatch: b.n, globalAttCount: Array.from(b.attWeight).filter((w) => w > 0).length };
  const adam = createAdamState(readParams(model).length);
  const gradVec = new Float32Array(readParams(model).length); // reused every step, as a replica does
  const step = () => {
    const g = computeGradients(model, mbs, norm, { attentionWeight: 1, cam: 'closed' }, gradVec);
    const p = readParams(model);
    // the optimizer update: the backend's GradiaAdam kernel on onednn, the JS loop elsewhere (bit-identical)
    adamStep(p, g.grads, adam);
    writeParams(model, p);
  };
  try {
    step();
    for (const k of Object.keys(kernelTimes)) delete kernelTimes[k];
    const ms: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      step();
      ms.push(performance.now() - t0);
    }
    const best = Math.min(...ms);
    return { imagesPerS: batch / (best / 1000), stepMs: ms.map((x) => Math.round(x)) };
  } finally {
    disposeModel(model);
  }
}

const TORCH_SCRIPT = `
import json, sys, time, torch, torchvision
arch, size, batch, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(0)
m = getattr(torchvision.models, arch)(num_classes=1000)
m.train()
opt = torch.optim.Adam(m.parameters(), lr=1e-4)
x = torch.randn(batch, 3, size, size)
y = torch.randint(0, 1000, (batch,))
def step():
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(m(x), y)
    loss.backward()
    opt.step()
step()
ms = []
for _ in range(steps):
    t0 = time.perf_counter(); step(); ms.append((time.perf_counter() - t0) * 1000)
print(json.dumps({"imagesPerS": batch / (min(ms) / 1000), "stepMs": [round(t) for t in ms], "torch": torch.__version__, "threads": torch.get_num_threads()}))
`;

export function torchPython(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return null;
}

export function torchRate(py: string, arch: string, size: number, batch: number, steps: number, threads: number): Record<string, unknown> {
  const r = spawnSync(py, ['-c', TORCH_SCRIPT, arch, String(size), String(batch), String(steps), String(threads)], {
    encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) }, timeout: 900_000,
  });
  if (r.status !== 0) return { error: (r.stderr || String(r.error)).trim().split('\n').at(-1) };
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

interface ConvShapeRate { shape: string; layers: string[]; fwd: number; bwdData: number | null; bwdWeights: number }

/**
 * GFLOP/s of the raw oneDNN conv kernels on one convolution at batch n, fastest of `reps`:
 * forward, backward-data (null with `withData` false) and backward-weights.
 */
function convRates(c: ConvLayer, n: number, reps: number, withData: boolean): { fwd: number; bwdData: number | null; bwdWeights: number } {
  const pad = [[0, 0], [c.pad, c.pad], [c.pad, c.pad], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]];
  const xShape: [number, number, number, number] = [n, c.inSize, c.inSize, c.inChannels];
  const wShape: [number, number, number, number] = [c.kernel, c.kernel, c.inChannels, c.outChannels];
  const x = tf.randomNormal(xShape) as tf.Tensor4D;
  const w = tf.randomNormal(wShape) as tf.Tensor4D;
  const y = tf.conv2d(x, w, c.stride, pad);
  const dy = tf.randomNormal(y.shape);
  const flop = 2 * n * y.shape[1] * y.shape[2] * c.outChannels * c.inChannels * c.kernel * c.kernel;
  const rate = (f: () => tf.Tensor): number => {
    tf.dispose(f());
    let best = Infinity;
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      tf.dispose(f());
      best = Math.min(best, performance.now() - t0);
    }
    return flop / (best / 1000) / 1e9;
  };
  const attrs = { strides: c.stride, pad, dataFormat: 'NHWC' };
  try {
    return {
      fwd: rate(() => tf.conv2d(x, w, c.stride, pad)),
      bwdData: withData ? rate(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: xShape }) as tf.Tensor) : null,
      bwdWeights: rate(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: wShape }) as tf.Tensor),
    };
  } finally {
    tf.dispose([x, w, y, dy]);
  }
}

/**
 * convRates of each distinct convolution of the given nets (src/model convLayers) at `size` px,
 * batch n; the stem's backward-data is not timed (the image needs no gradient).
 */
async function convShapeRates(archs: ArchName[], size: number, n: number, reps: number): Promise<ConvShapeRate[]> {
  await tf.setBackend('onednn');
  const byShape = new Map<string, { c: ConvLayer; layers: string[] }>();
  for (const arch of archs) {
    for (const c of convLayers(arch, size)) {
      const key = `${c.inSize}x${c.inSize}x${c.inChannels}->${c.outChannels} k${c.kernel}s${c.stride}`;
      const e = byShape.get(key);
      if (e) e.layers.push(`${arch}.${c.name}`);
      else byShape.set(key, { c, layers: [`${arch}.${c.name}`] });
    }
  }
  return [...byShape].map(([shape, { c, layers }]) => {
    const r = convRates(c, n, reps, c.inChannels !== 3);
    return { shape, layers, fwd: round(r.fwd, 0), bwdData: r.bwdData === null ? null : round(r.bwdData, 0), bwdWeights: round(r.bwdWeights, 0) };
  });
}

export async function bench(opts: { quick: boolean }): Promise<Record<string, unknown>> {
  const reg = await registerOnednnBackend();
  const threads = Number(process.env.GRADIA_BENCH_THREADS) || os.cpus().length;
  const size = opts.quick ? 64 : 224;
  const batch = opts.quick ? 4 : 16;
  const steps = opts.quick ? 1 : 3;
  const archs = (process.env.GRADIA_BENCH_ARCHS ?? 'resnet18,resnet50').split(',') as ArchName[];
  const skip = new Set((process.env.GRADIA_BENCH_SKIP ?? '').split(','));
  const out: Record<string, unknown> = { size, batch, threads, step: 'computeGradients (GRADIA loss, closed-form cam) + Adam' };
  if (!reg.ok) {
    console.log(`onednn: unavailable: ${reg.reason}`);
    out.onednn = { unavailable: reg.reason };
  } else {
    setOnednnThreads(threads);
    out.onednnInfo = { version: onednnInfo().version, threads };
    await tf.setBackend('onednn');
    const n = opts.quick ? 2 : 8;
    const r = convRates({ name: '56x56x64->64 3x3', inSize: 56, kernel: 3, inChannels: 64, outChannels: 64, stride: 1, pad: 1 }, n, opts.quick ? 2 : 5, true);
    out.convGflops56x56x64 = { batch: n, threads, fwd: round(r.fwd, 1), bwdData: round(r.bwdData!, 1), bwdWeights: round(r.bwdWeights, 1) };
    console.log(`oneDNN conv 56x56x64->64 3x3 GFLOP/s (${threads} threads): ${JSON.stringify(out.convGflops56x56x64)}`);
    if (!opts.quick) {
      const shapes = await convShapeRates(archs, size, batch, 3);
      const all = shapes.flatMap((r) => [r.fwd, r.bwdWeights, ...(r.bwdData === null ? [] : [r.bwdData])]);
      out.convShapesGflops = { batch, size, threads, min: Math.min(...all), max: Math.max(...all), shapes };
      console.log(`oneDNN conv GFLOP/s per distinct ResNet conv shape (${shapes.length} shapes, batch ${batch}, ${size} px; fwd / bwd-data / bwd-weights), range ${Math.min(...all)}-${Math.max(...all)}:`);
      for (const r of shapes) console.log(`  ${r.shape.padEnd(28)} ${String(r.fwd).padStart(4)} / ${String(r.bwdData ?? '-').padStart(4)} / ${String(r.bwdWeights).padStart(4)}`);
    }
  }
  const py = skip.has('torch') ? null : torchPython();
  for (const arch of archs) {
    const r: Record<string, unknown> = {};
    const rounds = Number(process.env.GRADIA_BENCH_ROUNDS) || (opts.quick ? 1 : 2);
    let bestTorch: Record<string, unknown> | null = null;
    for (let round_ = 0; round_ < rounds; round_++) {
      if (reg.ok && !skip.has('onednn')) {
        setOnednnThreads(threads);
        const o = await trainRate('onednn', arch, size, batch, batch, steps);
        console.log(`${arch} onednn (${threads} threads): ${round(o.imagesPerS)} images/s, steps ${o.stepMs.join('/')} ms`);
        if (typeof r.onednn !== 'number' || o.imagesPerS > r.onednn) { r.onednn = round(o.imagesPerS); r.onednnStepMs = o.stepMs; }
        if (round_ === 0 && process.env.GRADIA_ONEDNN_PROFILE === '1') {
          const top = Object.entries(kernelTimes).sort((a, b) => b[1].ms - a[1].ms).slice(0, 25);
          console.log(top.map(([k, v]) => `  ${k}: ${round(v.ms / steps, 1)} ms/step (${v.calls / steps} calls)`).join('\n'));
          r.onednnKernelMsPerStep = Object.fromEntries(top.map(([k, v]) => [k, round(v.ms / steps, 1)]));
        }
      }
      if (py) {
        const t = torchRate(py, arch, size, batch, steps, threads);
        console.log(`${arch} pytorch ${String(t.torch ?? '')} (${threads} threads): ${JSON.stringify(t.imagesPerS ?? t)} images/s`);
        if (typeof t.imagesPerS === 'number' && (!bestTorch || t.imagesPerS > (bestTorch.imagesPerS as number))) bestTorch = t;
        else if (!bestTorch) bestTorch = t;
      }
    }
    if (reg.ok && !skip.has('onednn')) {
      if (threads > 1 && !opts.quick) {
        // one thread: what each of `threads` single-threaded workers would get (before all-reduce)
        setOnednnThreads(1);
        const o1 = await trainRate('onednn', arch, size, batch, batch, Math.min(steps, 2));
        setOnednnThreads(threads);
        r.onednn1Thread = round(o1.imagesPerS);
        console.log(`${arch} onednn (1 thread): ${r.onednn1Thread} images/s (x${threads} workers ideal: ${round(o1.imagesPerS * threads)})`);
      }
    }
    if (!skip.has('wasm')) {
      // WASM's heap is capped at 4 GiB: ResNet-50 trains only in micro-batches of <= 4 there.
      const micro = arch === 'resnet50' ? Math.min(4, batch) : batch;
      const w = await trainRate('wasm', arch, size, batch, micro, opts.quick ? 1 : 1);
      r.wasm = round(w.imagesPerS);
      r.wasmMicroBatch = micro;
      console.log(`${arch} wasm (1 thread, micro-batch ${micro}): ${r.wasm} images/s`);
    }
    if (py && bestTorch) {
      r.torch = typeof bestTorch.imagesPerS === 'number' ? round(bestTorch.imagesPerS) : bestTorch;
      r.torchStepMs = bestTorch.stepMs;
    } else {
      r.torch = 'not installed (apt-get install python3-torch python3-torchvision)';
    }
    if (typeof r.onednn === 'number' && typeof r.wasm === 'number') r.onednnOverWasm = round(r.onednn / r.wasm);
    if (typeof r.onednn === 'number' && typeof r.torch === 'number') r.onednnOverTorch = round(r.onednn / r.torch);
    out[arch] = r;
  }
  out.machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', memGiB: Math.round(os.totalmem() / 2 ** 30) };
  if (process.env.GRADIA_BENCH_OUT) fs.writeFileSync(process.env.GRADIA_BENCH_OUT, JSON.stringify(out, null, 2));
  return out;
}
