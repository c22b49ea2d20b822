// Does serving /metrics slow training? A tiny tfjs training loop (tiny18 at 64 px, the
// model core of src/model) runs in repetitions that alternate between "no exporter" and
// "exporter on": a TrainingMetrics updated every step, served over HTTP, and scraped every
// 100 ms by a client in a worker thread (as Prometheus would from outside the process).
// Reports each condition's mean step time with its spread and whether the difference is
// within the noise: |mean paired difference| <= 2 standard errors of that mean.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { initBackend } from '../src/backend/select.js';
import { setOnednnThreads } from '../src/backend/onednn/index.js';
import { tf } from '../src/backend/tf.js';
import { TrainingMetrics, type MetricsServer } from '../src/monitoring/metrics_exporter.js';
import { computeGradients, createModel, disposeModel, paramLayout, readParams, writeParams, adamStep, createAdamState } from '../src/model/index.js';
import type { Model, TrainBatch } from '../src/model/index.js';

const SIZE = 64;
const BATCH = 4;
/** 50x Prometheus' rate in monitoring/prometheus.yml (5 s), so that the bench sees many scrapes */
const SCRAPE_EVERY_MS = 100;

function makeBatch(seed: number): TrainBatch {
  let s = seed >>> 0;
  const rnd = (): number => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const g = SIZE / 32;
  const images = new Float32Array(BATCH * SIZE * SIZE * 3).map(rnd);
  const labels = Int32Array.from({ length: BATCH }, (_, i) => i % 2);
  const targets = new Float32Array(BATCH * g * g).map(() => (rnd() > 0 ? 1 : 0));
  return { n: BATCH, size: SIZE, images, labels, predWeight: new Float32Array(BATCH).fill(1), attWeight: new Float32Array(BATCH).fill(1), targets };
}

const SCRAPER = `
const { parentPort, workerData } = require('node:worker_threads');
let scrapes = 0, failures = 0, stop = false;
parentPort.on('message', () => { stop = true; });
(async () => {
  while (!stop) {
    const t = Date.now();
    try { const r = await fetch(workerData.url); await r.text(); if (r.ok) scrapes++; else failures++; } catch { failures++; }
    await new Promise((r) => setTimeout(r, Math.max(0, workerData.everyMs - (Date.now() - t))));
  }
  parentPort.postMessage({ scrapes, failures });
})();
`;

interface RepResult { stepMs: number; scrapes?: number; failures?: number }

async function runRep(model: Model, batch: TrainBatch, steps: number, exporter: boolean): Promise<RepResult> {
  let metrics: TrainingMetrics | null = null;
  let server: MetricsServer | null = null;
  let scraper: Worker | null = null;
  if (exporter) {
    metrics = new TrainingMetrics();
    metrics.startRun({ phase: 2, nEpochs: 1, stepsPerEpoch: steps, workers: 1, arch: model.arch, backend: tf.getBackend() });
    server = await metrics.serve({ port: 0 });
    scraper = new Worker(SCRAPER, { eval: true, workerData: { url: server.url, everyMs: SCRAPE_EVERY_MS } });
    await server.waitForScrape(5000);
  }
  const layout = paramLayout(model);
  const adam = createAdamState(layout.total);
  const norm = { globalBatch: batch.n, globalAttCount: batch.n };
  const t0 = performance.now();
  for (let i = 1; i <= steps; i++) {
    const ts = performance.now();
    const r = computeGradients(model, [batch], norm, { attentionWeight: 1, cam: 'closed' });
    const params = readParams(model);
    adamStep(params, r.grads, adam, { lr: 1e-4 });
    writeParams(model, params);
    const stepS = (performance.now() - ts) / 1000;
    if (metrics) {
      metrics.recordStep({ epoch: 1, step: i, stepInEpoch: i, images: batch.n, taskLoss: r.taskLossSum / batch.n, attLoss: r.attLossSum / batch.n,
        learningRate: 1e-4, workers: [{ worker: 0, stepS, allReduceS: 0, allReduceBytes: 0 }] });
      const mem = tf.memory();
      metrics.setWorkerMemory(0, { numTensors: mem.numTensors, numBytes: mem.numBytes });
    }
    // A real run awaits its workers here: the event loop is free to answer scrapes.
    await new Promise((r) => setImmediate(r));
  }
  const stepMs = (performance.now() - t0) / steps;
  if (scraper && server) {
    const done = new Promise<{ scrapes: number; failures: number }>((r) => scraper!.once('message', r));
    scraper.postMessage('stop');
    const counts = await done;
    await scraper.terminate();
    await server.close();
    return { stepMs, ...counts };
  }
  return { stepMs };
}

function stats(xs: number[]): { mean: number; sd: number; min: number; max: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd, min: Math.min(...xs), max: Math.max(...xs) };
}

interface Comparison {
  computeThreads: number | null;
  stepMsWithoutExporter: { mean: number; sd: number; min: number; max: number };
  stepMsWithExporter: { mean: number; sd: number; min: number; max: number };
  pairedDifferenceMs: { mean: number; sd: number };
  differencePercent: number;
  twoStandardErrorsPercent: number;
  withinNoise: boolean;
  scrapes: number;
  scrapeFailures: number;
  scrapesPerSecond: number;
}

const r3 = (x: number): number => +x.toFixed(3);

/** `reps` interleaved pairs of repetitions without and with the exporter (and its scraper). */
async function compare(model: Model, batch: TrainBatch, reps: number, steps: number, computeThreads: number | null): Promise<Comparison> {
  const off: number[] = [];
  const on: number[] = [];
  let scrapes = 0;
  let failures = 0;
  let seconds = 0;
  for (let r = 0; r < reps; r++) {
    // Interleave, alternating the order so drift hits both conditions alike.
    const order = r % 2 === 0 ? [false, true] : [true, false];
    for (const exporter of order) {
      const res = await runRep(model, batch, steps, exporter);
      (exporter ? on : off).push(res.stepMs);
      if (exporter) {
        scrapes += res.scrapes ?? 0;
        failures += res.failures ?? 0;
        seconds += (res.stepMs * steps) / 1000;
      }
    }
  }
  const a = stats(off);
  const b = stats(on);
  // Paired by repetition (each pair ran back to back), which cancels slow drift.
  const paired = stats(on.map((x, i) => x - off[i]!));
  const se = paired.sd / Math.sqrt(on.length);
  const st = (x: ReturnType<typeof stats>) => ({ mean: r3(x.mean), sd: r3(x.sd), min: r3(x.min), max: r3(x.max) });
  return {
    computeThreads,
    stepMsWithoutExporter: st(a),
    stepMsWithExporter: st(b),
    pairedDifferenceMs: { mean: r3(paired.mean), sd: r3(paired.sd) },
    differencePercent: +((100 * paired.mean) / a.mean).toFixed(2),
    twoStandardErrorsPercent: +((200 * se) / a.mean).toFixed(2),
    withinNoise: Math.abs(paired.mean) <= 2 * se,
    scrapes,
    scrapeFailures: failures,
    scrapesPerSecond: +(scrapes / Math.max(seconds, 1e-9)).toFixed(2),
  };
}

function printComparison(label: string, c: Comparison): void {
  console.log(`  ${label}`);
  console.log(`    without exporter: ${c.stepMsWithoutExporter.mean.toFixed(2)} ms/step (sd ${c.stepMsWithoutExporter.sd.toFixed(2)})`);
  console.log(`    with exporter   : ${c.stepMsWithExporter.mean.toFixed(2)} ms/step (sd ${c.stepMsWithExporter.sd.toFixed(2)}), ${c.scrapes} scrapes (${c.scrapesPerSecond}/s), ${c.scrapeFailures} failed`);
  console.log(`    difference ${c.differencePercent}% (2 standard errors: ${c.twoStandardErrorsPercent}%): ${c.withinNoise ? 'within noise' : 'BEYOND noise'}`);
}

export async function bench(opts: { quick: boolean }): Promise<Record<string, unknown>> {
  const backend = await initBackend('auto');
  const reps = opts.quick ? 4 : 10;
  const steps = opts.quick ? 10 : 30;
  const cores = os.availableParallelism();
  const model = createModel('tiny18', 2, 1);
  const batch = makeBatch(7);
  try {
    await runRep(model, batch, 3, false); // warm-up: kernels, allocations
    // The scraper thread stands in for Prometheus, which would run outside the process. With
    // OpenMP computing on every core, its HTTP client work steals a core from the compute and
    // stalls the OpenMP barriers: that is contention on a full machine, not the exporter's cost.
    // So on onednn the comparison runs twice: compute on every core, then on cores - 1 (the
    // exporter's own cost, with the stand-in Prometheus on its own core).
    const allCores = await compare(model, batch, reps, steps, null);
    let spareCore: Comparison | null = null;
    if (backend.name === 'onednn' && cores > 1) {
      setOnednnThreads(cores - 1);
      try {
        spareCore = await compare(model, batch, reps, steps, cores - 1);
      } finally {
        setOnednnThreads(cores);
      }
    }
    // The exporter's own cost, measured directly (far less noisy than step times): one
    // recordStep call, and rendering /metrics once (what each scrape costs the process).
    const m = new TrainingMetrics();
    m.startRun({ phase: 2, nEpochs: 1, stepsPerEpoch: 1e6, workers: 8, arch: 'tiny18', backend: 'cpu' });
    const calls = opts.quick ? 2000 : 20000;
    let t = performance.now();
    for (let i = 1; i <= calls; i++) {
      m.recordStep({ epoch: 1, step: i, stepInEpoch: i, images: 32, taskLoss: 0.5, attLoss: 0.1, learningRate: 1e-4,
        workers: Array.from({ length: 8 }, (_, w) => ({ worker: w, stepS: 0.1 + w * 0.01, allReduceS: 0.01, allReduceBytes: 1e6 })) });
    }
    const recordStepUs = ((performance.now() - t) * 1000) / calls;
    const renders = opts.quick ? 50 : 300;
    let bytes = 0;
    t = performance.now();
    for (let i = 0; i < renders; i++) bytes = (await m.metricsText()).length;
    const renderMs = (performance.now() - t) / renders;
    const result = {
      backend: backend.name,
      workload: `tiny18, ${SIZE}px, batch ${BATCH}: gradients + Adam per step`,
      reps,
      stepsPerRep: steps,
      scrapeEveryMs: SCRAPE_EVERY_MS,
      computeOnAllCores: allCores,
      computeWithASpareCore: spareCore,
      recordStepMicroseconds8Workers: +recordStepUs.toFixed(2),
      renderMetricsMs: +renderMs.toFixed(3),
      metricsPageBytes: bytes,
      cpuShareAt10ScrapesPerSecondPercent: +(((renderMs * 10) / 1000) * 100).toFixed(3), // ms per scrape x 10/s, as % of 1000 ms
    };
    console.log(`backend ${result.backend}; ${result.workload}; ${reps} interleaved reps x ${steps} steps; a scrape every ${SCRAPE_EVERY_MS} ms (monitoring/prometheus.yml: 5 s)`);
    printComparison(`compute on all ${cores} cores (the stand-in Prometheus competes for them):`, allCores);
    if (spareCore) printComparison(`compute on ${cores - 1} core(s), the stand-in Prometheus on the spare one (the exporter's own cost):`, spareCore);
    console.log(`  exporter cost: recordStep (8 workers) ${recordStepUs.toFixed(1)} us; rendering /metrics (${bytes} bytes) ${renderMs.toFixed(2)} ms = ${result.cpuShareAt10ScrapesPerSecondPercent}% of a core at 10 scrapes/s`);
    return result;
  } finally {
    disposeModel(model);
  }
}
