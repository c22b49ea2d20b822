import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TrainingMetrics, type MetricsServer, type StepRecord } from '../src/monitoring/metrics_exporter.js';
import { GradiaInputError } from '../src/util/errors.js';
import { find, parseExposition, value, type Exposition } from './metrics_exposition.js';

const servers: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function scrape(url: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function step(epoch: number, stepInEpoch: number, stepsPerEpoch: number, over: Partial<StepRecord> = {}): StepRecord {
  return {
    epoch,
    step: (epoch - 1) * stepsPerEpoch + stepInEpoch,
    stepInEpoch,
    images: 8,
    taskLoss: 0.5 + 0.1 * stepInEpoch,
    attLoss: 0.01 * stepInEpoch,
    learningRate: 1e-4,
    workers: [
      { worker: 0, stepS: 0.3, allReduceS: 0.05, allReduceBytes: 1000 },
      { worker: 1, stepS: 0.7, allReduceS: 0.2, allReduceBytes: 1500 },
    ],
    ...over,
  };
}

describe('TrainingMetrics over HTTP', () => {
  it('exports every metric with its type, labels and the values the run loop set', async () => {
    let t = 1_000_000;
    const m = new TrainingMetrics({ now: () => t });
    const srv = await m.serve({ port: 0 });
    servers.push(srv);
    expect(srv.port).toBeGreaterThan(0);
    expect(srv.url).toBe(`http://127.0.0.1:${srv.port}/metrics`);

    m.startRun({ phase: 2, nEpochs: 2, stepsPerEpoch: 4, workers: 2, arch: 'tiny18', backend: 'cpu' });
    let r = await scrape(srv.url);
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
    let e = parseExposition(r.text);
    // Before the first step: worker series exist at zero, unknowns are NaN.
    expect(value(e, 'gradia_step_duration_seconds_count', { worker: '1', phase: '2' })).toBe(0);
    expect(value(e, 'gradia_allreduce_bytes_total', { worker: '0' })).toBe(0);
    expect(value(e, 'gradia_worker_restarts_total', { worker: '1' })).toBe(0);
    expect(value(e, 'gradia_images_processed_total', { phase: '2', split: 'train' })).toBe(0);
    expect(value(e, 'gradia_validation_accuracy_ratio')).toBeNaN();
    expect(value(e, 'gradia_validation_iou_ratio')).toBeNaN();
    expect(value(e, 'gradia_eta_seconds')).toBeNaN();
    expect(value(e, 'gradia_run_state', { state: 'training' })).toBe(1);
    expect(value(e, 'gradia_run_state', { state: 'starting' })).toBe(0);
    expect(value(e, 'gradia_run_info', { phase: '2', arch: 'tiny18', backend: 'cpu' })).toBe(1);
    expect(value(e, 'gradia_workers_configured')).toBe(2);
    expect(value(e, 'gradia_epochs')).toBe(2);
    expect(value(e, 'gradia_run_start_time_seconds')).toBe(1000);

    m.startEpoch(1);
    for (let i = 1; i <= 4; i++) {
      t += 2000;
      m.recordStep(step(1, i, 4));
    }
    m.addEvaluated('val', 16);
    m.recordValidation({ epoch: 1, accuracy: 0.75, iou: 0.4 });
    m.recordCheckpoint();
    t += 5000;
    m.setWorkerMemory(0, { numTensors: 120, numBytes: 4096 });
    m.setWorkerMemory(1, { numTensors: 121, numBytes: 8192 });
    m.setQueueDepth(3);
    m.recordWorkerRestart(1);
    m.setWorkersUp(1);

    r = await scrape(srv.url);
    e = parseExposition(r.text);
    // Types.
    expect(e.types.get('gradia_step_duration_seconds')).toBe('histogram');
    expect(e.types.get('gradia_allreduce_duration_seconds')).toBe('histogram');
    expect(e.types.get('gradia_images_processed_total')).toBe('counter');
    expect(e.types.get('gradia_allreduce_bytes_total')).toBe('counter');
    expect(e.types.get('gradia_worker_restarts_total')).toBe('counter');
    for (const g of ['gradia_task_loss', 'gradia_attention_loss', 'gradia_learning_rate', 'gradia_epoch', 'gradia_step', 'gradia_epoch_progress_ratio',
      'gradia_eta_seconds', 'gradia_validation_accuracy_ratio', 'gradia_validation_iou_ratio', 'gradia_checkpoint_age_seconds', 'gradia_workers_up',
      'gradia_worker_tfjs_tensors', 'gradia_worker_tfjs_memory_bytes', 'gradia_data_queue_depth']) {
      expect(e.types.get(g), g).toBe('gauge');
    }
    // Step histogram: per worker and phase, cumulative buckets.
    expect(value(e, 'gradia_step_duration_seconds_count', { worker: '0', phase: '2' })).toBe(4);
    expect(value(e, 'gradia_step_duration_seconds_sum', { worker: '0', phase: '2' })).toBeCloseTo(1.2, 12);
    expect(value(e, 'gradia_step_duration_seconds_bucket', { worker: '0', phase: '2', le: '0.25' })).toBe(0);
    expect(value(e, 'gradia_step_duration_seconds_bucket', { worker: '0', phase: '2', le: '0.5' })).toBe(4);
    expect(value(e, 'gradia_step_duration_seconds_bucket', { worker: '1', phase: '2', le: '0.5' })).toBe(0);
    expect(value(e, 'gradia_step_duration_seconds_bucket', { worker: '1', phase: '2', le: '1' })).toBe(4);
    expect(value(e, 'gradia_step_duration_seconds_bucket', { worker: '1', phase: '2', le: '+Inf' })).toBe(4);
    expect(value(e, 'gradia_allreduce_duration_seconds_sum', { worker: '1' })).toBeCloseTo(0.8, 12);
    expect(value(e, 'gradia_allreduce_bytes_total', { worker: '1' })).toBe(6000);
    expect(value(e, 'gradia_images_processed_total', { phase: '2', split: 'train' })).toBe(32);
    expect(value(e, 'gradia_images_processed_total', { phase: '2', split: 'val' })).toBe(16);
    expect(value(e, 'gradia_task_loss')).toBeCloseTo(0.9, 12);
    expect(value(e, 'gradia_attention_loss')).toBeCloseTo(0.04, 12);
    expect(value(e, 'gradia_learning_rate')).toBe(1e-4);
    expect(value(e, 'gradia_epoch')).toBe(1);
    expect(value(e, 'gradia_step')).toBe(4);
    expect(value(e, 'gradia_epoch_progress_ratio')).toBe(1);
    // 4 steps at t = 2, 4, 6, 8 s: 3 steps / 6 s = 0.5 steps/s; 4 steps left -> 8 s.
    expect(value(e, 'gradia_eta_seconds')).toBeCloseTo(8, 12);
    expect(value(e, 'gradia_validation_accuracy_ratio')).toBe(0.75);
    expect(value(e, 'gradia_validation_iou_ratio')).toBe(0.4);
    expect(value(e, 'gradia_validation_epoch')).toBe(1);
    expect(value(e, 'gradia_checkpoint_age_seconds')).toBe(5);
    expect(value(e, 'gradia_checkpoints_written_total')).toBe(1);
    expect(value(e, 'gradia_worker_tfjs_tensors', { worker: '1' })).toBe(121);
    expect(value(e, 'gradia_worker_tfjs_memory_bytes', { worker: '0' })).toBe(4096);
    expect(value(e, 'gradia_data_queue_depth')).toBe(3);
    expect(value(e, 'gradia_worker_restarts_total', { worker: '1' })).toBe(1);
    expect(value(e, 'gradia_workers_up')).toBe(1);
    // prom-client's default process metrics.
    expect(e.types.get('process_cpu_seconds_total')).toBe('counter');
    expect(find(e, 'process_resident_memory_bytes').length).toBe(1);
    expect(find(e, 'nodejs_heap_size_used_bytes').length).toBe(1);

    // Epoch 2: progress restarts, the ETA keeps counting down, checkpoint age grows.
    m.startEpoch(2);
    expect(value(parseExposition(await m.metricsText()), 'gradia_epoch_progress_ratio')).toBe(0);
    t += 2000;
    m.recordStep(step(2, 1, 4, { attLoss: 0 }));
    e = parseExposition(await m.metricsText());
    expect(value(e, 'gradia_epoch')).toBe(2);
    expect(value(e, 'gradia_epoch_progress_ratio')).toBe(0.25);
    // readings (t s, step): (2,1) (4,2) (6,3) (8,4) (15,5): 4 steps / 13 s; 3 left.
    expect(value(e, 'gradia_eta_seconds')).toBeCloseTo(3 / (4 / 13), 9);
    expect(value(e, 'gradia_checkpoint_age_seconds')).toBe(7);
    expect(value(e, 'gradia_attention_loss')).toBe(0);

    m.endRun('finished');
    e = parseExposition(await m.metricsText());
    expect(value(e, 'gradia_run_state', { state: 'finished' })).toBe(1);
    expect(value(e, 'gradia_run_state', { state: 'training' })).toBe(0);
    expect(value(e, 'gradia_eta_seconds')).toBe(0);

    // Only /metrics is served; GET and HEAD only.
    expect((await scrape(`http://127.0.0.1:${srv.port}/nope`)).status).toBe(404);
    expect((await fetch(srv.url, { method: 'POST' })).status).toBe(405);
  });

  it('follows Prometheus naming: gradia_ prefix, _total counters, base units, no per-image labels', async () => {
    const m = new TrainingMetrics();
    m.startRun({ phase: 1, nEpochs: 1, stepsPerEpoch: 2, workers: 1 });
    m.recordStep(step(1, 1, 2, { workers: [{ worker: 0, stepS: 0.1, allReduceS: 0, allReduceBytes: 0 }] }));
    m.setWorkerMemory(0, { numTensors: 1, numBytes: 1 });
    const all = await m.registry.getMetricsAsJSON();
    expect(all.length).toBeGreaterThan(30);
    const forbidden = /image|path|file|sample|name|index/i;
    let counters = 0;
    for (const metric of all) {
      const n = metric.name;
      const type = metric.type as unknown as string; // prom-client's typings say enum, the runtime value is a string
      if (!/^(process|nodejs)_/.test(n)) expect(n, n).toMatch(/^gradia_[a-z0-9_]+$/);
      if (type === 'counter') { counters++; expect(n, n).toMatch(/_total$/); }
      else if (n.startsWith('gradia_')) expect(n, n).not.toMatch(/_total$/); // prom-client has a nodejs_*_total gauge
      if (/duration|_age|eta|time/.test(n) && n.startsWith('gradia_')) expect(n, n).toMatch(/_seconds$/);
      if (/memory|bytes/.test(n) && n.startsWith('gradia_')) expect(n, n).toMatch(/_bytes(_total)?$/);
      for (const v of metric.values) {
        for (const label of Object.keys(v.labels)) {
          if (label === 'le' || label === 'quantile') continue;
          expect(label, `${n} label ${label}`).not.toMatch(forbidden);
        }
      }
    }
    expect(counters).toBeGreaterThanOrEqual(6);
    // Label values are bounded: workers, phases, splits, states only.
    const e = parseExposition(await m.metricsText());
    for (const s of e.samples.filter((x) => x.name.startsWith('gradia_'))) {
      if (s.labels.worker !== undefined) expect(s.labels.worker).toMatch(/^\d+$/);
      if (s.labels.phase !== undefined) expect(['1', '2']).toContain(s.labels.phase);
      if (s.labels.split !== undefined) expect(['train', 'val', 'test']).toContain(s.labels.split);
    }
  });

  it('reports a taken port as a one-line input error', async () => {
    const a = await new TrainingMetrics({ defaultMetrics: false }).serve({ port: 0 });
    servers.push(a);
    const err = await new TrainingMetrics({ defaultMetrics: false }).serve({ port: a.port }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(GradiaInputError);
    expect(String((err as Error).message)).toContain(`--metrics-port ${a.port}`);
    expect(String((err as Error).message)).not.toContain('\n');
    for (const bad of [70000, -1, 1.5]) {
      await expect(new TrainingMetrics({ defaultMetrics: false }).serve({ port: bad })).rejects.toThrow(GradiaInputError);
    }
  });

  it('counts scrapes, can wait for the first one, and lingers on close', async () => {
    const port = await freePort();
    const m = new TrainingMetrics({ defaultMetrics: false });
    let resolved = false;
    const pending = m.serve({ port, waitForScrapeS: 20 }).then((s) => { resolved = true; return s; });
    // It listens before it resolves; it resolves only after a completed scrape.
    let first: Response | null = null;
    for (let i = 0; i < 100 && !first; i++) {
      first = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => null);
      if (!first) await new Promise((r) => setTimeout(r, 20));
    }
    expect(first?.status).toBe(200);
    await first!.text();
    const srv = await pending;
    expect(resolved).toBe(true);
    expect(srv.scrapes).toBe(1);

    const next = srv.waitForScrape(5000);
    await (await fetch(srv.url)).text();
    expect(await next).toBe(true);
    expect(srv.scrapes).toBe(2);
    expect(await srv.waitForScrape(50)).toBe(false);
    await srv.close();

    // Without a scrape, waitForScrapeS times out and serve() resolves anyway.
    const t0 = Date.now();
    const quiet = await new TrainingMetrics({ defaultMetrics: false }).serve({ port: 0, waitForScrapeS: 0.2 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(quiet.scrapes).toBe(0);
    await quiet.close();

    // close() keeps serving for lingerS, then stops.
    const lingering = await new TrainingMetrics({ defaultMetrics: false }).serve({ port: 0, lingerS: 0.4 });
    const t1 = Date.now();
    const closed = lingering.close();
    expect((await fetch(lingering.url)).status).toBe(200);
    await closed;
    expect(Date.now() - t1).toBeGreaterThanOrEqual(390);
    await expect(fetch(lingering.url)).rejects.toThrow();

    // SIGTERM (or SIGINT) during the linger ends it early.
    const before = new Set(process.listeners('SIGTERM'));
    const long = await new TrainingMetrics({ defaultMetrics: false }).serve({ port: 0, lingerS: 60 });
    const t2 = Date.now();
    const closing = long.close();
    const ours = process.listeners('SIGTERM').filter((f) => !before.has(f));
    expect(ours.length).toBe(1);
    (ours[0] as () => void)();
    await closing;
    expect(Date.now() - t2).toBeLessThan(5000);
    expect(process.listeners('SIGTERM').filter((f) => !before.has(f)).length).toBe(0);
  });

  it('reads the wait and linger defaults from the environment, rejecting bad values', async () => {
    const saved = process.env.GRADIA_METRICS_LINGER_S;
    try {
      process.env.GRADIA_METRICS_LINGER_S = 'soon';
      const err = await new TrainingMetrics({ defaultMetrics: false }).serve({ port: 0 }).catch((x: unknown) => x);
      expect(err).toBeInstanceOf(GradiaInputError);
      expect((err as Error).message).toContain('GRADIA_METRICS_LINGER_S=soon');
      process.env.GRADIA_METRICS_LINGER_S = '0.3';
      const srv = await new TrainingMetrics({ defaultMetrics: false }).serve({ port: 0 });
      const t0 = Date.now();
      await srv.close();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    } finally {
      if (saved === undefined) delete process.env.GRADIA_METRICS_LINGER_S;
      else process.env.GRADIA_METRICS_LINGER_S = saved;
    }
  });

  it('keeps IoU NaN when an evaluation does not measure it', async () => {
    const m = new TrainingMetrics({ defaultMetrics: false });
    m.recordValidation({ epoch: 1, accuracy: 0.5, iou: 0.3 });
    m.recordValidation({ epoch: 2, accuracy: 0.6 });
    const e: Exposition = parseExposition(await m.metricsText());
    expect(value(e, 'gradia_validation_accuracy_ratio')).toBe(0.6);
    expect(value(e, 'gradia_validation_iou_ratio')).toBeNaN();
    expect(value(e, 'gradia_validation_epoch')).toBe(2);
  });
});
