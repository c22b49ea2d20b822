// A real Prometheus scraping gradia-dist: every PromQL expression of the Grafana dashboard
// must return data. Needs Debian's `prometheus` package (CI installs it: .ci/apt-packages);
// skipped, with a message, only when the prometheus binary is absent.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TrainingMetrics } from '../src/monitoring/metrics_exporter.js';
import { dashboardExpressions, promqlMetricNames, substituteGrafanaVariables } from './helpers/metrics_dashboard.js';
import { repoRoot } from '../src/util/paths.js';
import { find, parseExposition, value, type Exposition } from './metrics_exposition.js';
import { PROMETHEUS_BIN, PROMTOOL_BIN, PrometheusServer, freePort, hasBinary, sleep, testPrometheusConfig, waitFor } from './prometheus_harness.js';

const havePrometheus = hasBinary(PROMETHEUS_BIN);
if (!havePrometheus) {
  console.warn(`SKIPPED tests/prometheus.test.ts: the '${PROMETHEUS_BIN}' binary is absent (apt-get install prometheus; CI installs it from .ci/apt-packages)`);
}

const dashboardDir = path.join(repoRoot, 'monitoring', 'grafana', 'dashboards');
const dashboards = fs.readdirSync(dashboardDir).filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, json: JSON.parse(fs.readFileSync(path.join(dashboardDir, f), 'utf8')) as unknown }));

/** Every dashboard expression as Prometheus runs it (Grafana variables filled in). */
function dashboardQueries(): Array<{ where: string; query: string }> {
  const out: Array<{ where: string; query: string }> = [];
  for (const d of dashboards) {
    for (const x of dashboardExpressions(d.json)) {
      // label_values(metric, label) is Grafana's, not PromQL: query its metric.
      const query = x.isVariableQuery ? promqlMetricNames(x.expr).join(' or ') : substituteGrafanaVariables(x.expr);
      out.push({ where: `${d.file}: ${x.where}`, query });
    }
  }
  return out;
}

/** Queries every dashboard expression; returns the ones without data (with why). */
async function emptyDashboardQueries(prom: PrometheusServer): Promise<string[]> {
  const missing: string[] = [];
  for (const q of dashboardQueries()) {
    try {
      const r = await prom.query(q.query);
      if (r.result.length === 0) missing.push(`${q.where}: no data for ${q.query}`);
    } catch (err) {
      missing.push(`${q.where}: ${String(err)}`);
    }
  }
  return missing;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.skipIf(!havePrometheus)('real Prometheus', () => {
  it('promtool accepts monitoring/prometheus.yml and the generated test config', () => {
    const r = spawnSync(PROMTOOL_BIN, ['check', 'config', path.join(repoRoot, 'monitoring', 'prometheus.yml')], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-promtool-'));
    try {
      const f = path.join(dir, 'p.yml');
      fs.writeFileSync(f, testPrometheusConfig('127.0.0.1:12345'));
      const t = spawnSync(PROMTOOL_BIN, ['check', 'config', f], { encoding: 'utf8' });
      expect(t.status, t.stdout + t.stderr).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('harness: scrapes the metrics API driven in-process and answers every dashboard query', async () => {
    const port = await freePort();
    const prom = await PrometheusServer.start(testPrometheusConfig(`127.0.0.1:${port}`));
    cleanups.push(() => prom.stop());
    const m = new TrainingMetrics();
    // As a run with GRADIA_METRICS_WAIT_SCRAPE_S does: start training after the first scrape.
    const srv = await m.serve({ port, waitForScrapeS: 30 });
    cleanups.push(() => srv.close());
    expect(srv.scrapes).toBeGreaterThanOrEqual(1);

    m.startRun({ phase: 2, nEpochs: 2, stepsPerEpoch: 3, workers: 2, arch: 'tiny18', backend: 'cpu' });
    let step = 0;
    for (let epoch = 1; epoch <= 2; epoch++) {
      m.startEpoch(epoch);
      for (let i = 1; i <= 3; i++) {
        await sleep(400);
        step++;
        m.setQueueDepth(2);
        m.recordStep({ epoch, step, stepInEpoch: i, images: 8, taskLoss: 1 / step, attLoss: 0.1 / step, learningRate: 1e-4,
          workers: [0, 1].map((w) => ({ worker: w, stepS: 0.3 + 0.1 * w, allReduceS: 0.05, allReduceBytes: 2048 })) });
        for (const w of [0, 1]) m.setWorkerMemory(w, { numTensors: 50 + w, numBytes: 1e6 });
      }
      m.addEvaluated('val', 8);
      m.recordValidation({ epoch, accuracy: 0.5 + 0.1 * epoch, iou: 0.2 * epoch });
      m.recordCheckpoint();
    }
    m.endRun('finished');
    await waitFor('Prometheus to see the finished run', 20_000, async () =>
      (await prom.scalar('gradia_run_state{state="finished"}')) === 1 ? true : undefined);

    expect(await emptyDashboardQueries(prom)).toEqual([]);
    expect(await prom.scalar('sum(gradia_images_processed_total{split="train"})')).toBe(48);
    expect(await prom.scalar('gradia_validation_iou_ratio')).toBeCloseTo(0.4, 12);
    const p50 = await prom.scalar('histogram_quantile(0.5, sum by (worker, le) (rate(gradia_step_duration_seconds_bucket{worker="1"}[5m])))');
    expect(p50).toBeGreaterThan(0.25); // observations 0.4 s fall in the (0.25, 0.5] bucket
    expect(p50).toBeLessThanOrEqual(0.5);
    const share = await prom.scalar('sum by (worker) (rate(gradia_allreduce_duration_seconds_sum{worker="0"}[5m])) / sum by (worker) (rate(gradia_step_duration_seconds_sum{worker="0"}[5m]))');
    expect(share).toBeCloseTo(0.05 / 0.3, 6);
  }, 90_000);
});

// The real training run: the CLI of issue 4 with --metrics-port. Its metrics are read
// directly from /metrics (always) and through Prometheus (when installed).
describe('a short training run with --metrics-port', () => {
  const cli = path.join(repoRoot, 'bin', 'gradia-dist.js');

  it('serves every dashboard metric with sane values, and Prometheus answers every dashboard query', async () => {
    const compiled = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
    expect(fs.existsSync(compiled), `${compiled} is missing: build with npm run build (npm test does)`).toBe(true);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-metrics-run-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const dataDir = path.join(dir, 'data');
    const made = spawnSync(process.execPath, [cli, 'make-data', '--out', dataDir, '--train', '32', '--val', '16', '--test', '16', '--size', '64'],
      { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(made.status, `make-data failed: ${made.stdout}\n${made.stderr}`).toBe(0);

    const port = await freePort();
    let prom: PrometheusServer | null = null;
    if (havePrometheus) {
      // A fast scrape: the whole tiny run takes about a second.
      prom = await PrometheusServer.start(testPrometheusConfig(`127.0.0.1:${port}`, '200ms'));
      cleanups.push(() => prom!.stop());
    }
    const args = [cli, 'train', '--phase', '1', '--data-dir', dataDir, '--arch', 'tiny18', '--input-size', '64', '--n-epoch', '2',
      '--train-batch', '8', '--workers', '1', '--backend', 'wasm', '--micro-batch', '1', '--checkpoint-every', '1', '--metrics-port', String(port), '--model-dir', path.join(dir, 'model_save')];
    const env = {
      ...process.env,
      // Train only after the first scrape (when Prometheus watches) and keep serving after the run.
      GRADIA_METRICS_WAIT_SCRAPE_S: prom ? '30' : '0',
      GRADIA_METRICS_LINGER_S: '60',
    };
    const child = spawn(process.execPath, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
    let exitInfo: { code: number | null; signal: string | null } | null = null;
    void exited.then((x) => { exitInfo = x; });
    cleanups.push(async () => { if (!exitInfo) { child.kill('SIGKILL'); await exited; } });

    // The run starts training after the first scrape of /metrics: let that be Prometheus's,
    // so Prometheus watches the whole run, before this test scrapes /metrics itself.
    if (prom) {
      await waitFor('Prometheus to scrape the run', 60_000, async () =>
        (await prom!.scalar('count(gradia_run_state)')) > 0 ? true : undefined);
    }
    // Scrape /metrics directly while the run goes on, until it reports itself finished.
    const seenDuring: number[] = [];
    let maxWorkersUp = 0;
    const e: Exposition = await waitFor('the run to report gradia_run_state{state="finished"} 1', 150_000, async () => {
      if (exitInfo) throw new Error(`the run exited (${JSON.stringify(exitInfo)}) before lingering:\n${out.slice(-3000)}`);
      const res = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => null);
      if (!res) return undefined;
      const x = parseExposition(await res.text());
      const img = find(x, 'gradia_images_processed_total', { split: 'train' });
      if (img.length) seenDuring.push(img[0]!.value);
      maxWorkersUp = Math.max(maxWorkersUp, find(x, 'gradia_workers_up')[0]?.value ?? 0);
      return find(x, 'gradia_run_state', { state: 'finished' })[0]?.value === 1 ? x : undefined;
    }, 200).catch((err: unknown) => { throw new Error(`${String(err)}\n--- run output ---\n${out.slice(-3000)}`); });

    // Every metric the dashboard uses is served.
    const served = new Set(e.samples.map((s) => s.name));
    const missing = dashboardQueries().flatMap((q) => promqlMetricNames(q.query)).filter((n) => n !== 'up' && !served.has(n));
    expect([...new Set(missing)], 'dashboard metrics the run does not serve').toEqual([]);
    // ... with sane values for 32 training images x 2 epochs at a global batch of 8 on 1 worker.
    expect(value(e, 'gradia_images_processed_total', { phase: '1', split: 'train' })).toBe(64);
    expect(value(e, 'gradia_step')).toBe(8);
    expect(value(e, 'gradia_epoch')).toBe(2);
    expect(value(e, 'gradia_epochs')).toBe(2);
    expect(value(e, 'gradia_phase')).toBe(1);
    expect(value(e, 'gradia_epoch_progress_ratio')).toBe(1);
    expect(value(e, 'gradia_eta_seconds')).toBe(0);
    expect(value(e, 'gradia_step_duration_seconds_count', { worker: '0', phase: '1' })).toBe(8);
    expect(value(e, 'gradia_step_duration_seconds_sum', { worker: '0', phase: '1' })).toBeGreaterThan(0);
    const task = value(e, 'gradia_task_loss');
    expect(Number.isFinite(task) && task > 0, `task loss ${task}`).toBe(true);
    expect(value(e, 'gradia_attention_loss')).toBeGreaterThanOrEqual(0);
    expect(value(e, 'gradia_learning_rate')).toBeCloseTo(1e-4, 12);
    const acc = value(e, 'gradia_validation_accuracy_ratio');
    expect(acc >= 0 && acc <= 1, `accuracy ${acc}`).toBe(true);
    expect(value(e, 'gradia_validation_epoch')).toBe(2);
    const iou = value(e, 'gradia_validation_iou_ratio');
    expect(Number.isNaN(iou) || (iou >= 0 && iou <= 1), `IoU ${iou}`).toBe(true);
    expect(value(e, 'gradia_images_processed_total', { phase: '1', split: 'val' })).toBe(32);
    expect(value(e, 'gradia_checkpoints_written_total')).toBeGreaterThanOrEqual(1);
    expect(value(e, 'gradia_checkpoint_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(maxWorkersUp, 'gradia_workers_up while training').toBe(1);
    expect([0, 1]).toContain(value(e, 'gradia_workers_up')); // the workers may be closed by now
    expect(value(e, 'gradia_workers_configured')).toBe(1);
    expect(value(e, 'gradia_worker_restarts_total', { worker: '0' })).toBe(0);
    expect(value(e, 'gradia_worker_tfjs_tensors', { worker: '0' })).toBeGreaterThan(0);
    expect(value(e, 'gradia_worker_tfjs_memory_bytes', { worker: '0' })).toBeGreaterThan(0);
    expect(value(e, 'gradia_data_queue_depth')).toBeGreaterThanOrEqual(0);
    expect(value(e, 'gradia_run_info', { phase: '1', arch: 'tiny18' })).toBe(1);

    if (prom) {
      // Two scrapes of the finished (lingering) run: every series then has the two samples
      // that rate() needs, however short the run was.
      await waitFor('Prometheus to scrape the finished run twice', 20_000, async () =>
        (await prom!.scalar('sum_over_time(gradia_run_state{state="finished"}[10m])')) >= 2 ? true : undefined);
      const empty = await emptyDashboardQueries(prom);
      expect(empty, `targets: ${JSON.stringify(await prom.targets())}`).toEqual([]);
      expect(await prom.scalar('sum(gradia_images_processed_total{split="train"})')).toBe(64);
      // Prometheus saw the counter before the last step (the run waited for a first scrape).
      expect(await prom.scalar('min_over_time(gradia_images_processed_total{split="train"}[10m])')).toBeLessThan(64);
      const p95 = await prom.scalar('histogram_quantile(0.95, sum by (worker, le) (rate(gradia_step_duration_seconds_bucket[10m])))');
      expect(p95).toBeGreaterThan(0);
    }
    expect(seenDuring.length, 'scrapes of /metrics during the run').toBeGreaterThan(0);

    // SIGTERM ends the linger; the run then exits by itself.
    child.kill('SIGTERM');
    const end = await Promise.race([exited, sleep(20_000).then(() => null)]);
    expect(end, 'the run did not exit within 20 s of SIGTERM while lingering').not.toBeNull();
    expect(end!.code === 0 || end!.signal === 'SIGTERM' || end!.code === 143, `exit ${JSON.stringify(end)}:\n${out.slice(-2000)}`).toBe(true);
  }, 180_000);
});
