import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TrainingMetrics } from '../src/monitoring/metrics_exporter.js';
import { dashboardExpressions, promqlMetricNames, substituteGrafanaVariables } from './helpers/metrics_dashboard.js';
import { repoRoot } from '../src/util/paths.js';
import { parseExposition } from './metrics_exposition.js';

const dashboardDir = path.join(repoRoot, 'monitoring', 'grafana', 'dashboards');
const dashboardFiles = fs.readdirSync(dashboardDir).filter((f) => f.endsWith('.json'));

/** Metrics Prometheus makes up itself for every target. */
const PROMETHEUS_SYNTHETIC = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

describe('PromQL metric-name extraction', () => {
  it('finds metrics and skips functions, labels, grouping, ranges, numbers and variables', () => {
    expect(promqlMetricNames('histogram_quantile(0.95, sum by (worker, le) (rate(gradia_step_duration_seconds_bucket{instance=~"$instance", job="x"}[$__rate_interval])))'))
      .toEqual(['gradia_step_duration_seconds_bucket']);
    expect(promqlMetricNames('sum without (worker) (rate(a_total[5m])) / on(job) group_left(instance) b_seconds_sum offset 1h > bool 0.5e3'))
      .toEqual(['a_total', 'b_seconds_sum']);
    expect(promqlMetricNames('gradia_run_state{state="by(x) and y"} == 1 and up')).toEqual(['gradia_run_state', 'up']);
    expect(promqlMetricNames('max_over_time(nodejs_eventloop_lag_p99_seconds[1m:10s]) or vector(0)')).toEqual(['nodejs_eventloop_lag_p99_seconds']);
    expect(promqlMetricNames('label_values(gradia_run_info{job="g"}, instance)')).toEqual(['gradia_run_info']);
    expect(promqlMetricNames('1 + 2 * time()')).toEqual([]);
  });

  it('fills in Grafana variables and refuses unknown ones', () => {
    expect(substituteGrafanaVariables('rate(x{instance=~"$instance"}[$__rate_interval]) + y[${__range}]'))
      .toBe('rate(x{instance=~".+"}[5m]) + y[1h]');
    expect(() => substituteGrafanaVariables('x{job="$job"}')).toThrow(/\$job/);
  });
});

describe('Grafana dashboard', () => {
  it('exists with provisioning files', () => {
    expect(dashboardFiles.length).toBeGreaterThan(0);
    for (const f of ['datasources/prometheus.yml', 'dashboards/gradia.yml']) {
      expect(fs.existsSync(path.join(repoRoot, 'monitoring', 'grafana', 'provisioning', f)), f).toBe(true);
    }
    const provider = fs.readFileSync(path.join(repoRoot, 'monitoring', 'grafana', 'provisioning', 'dashboards', 'gradia.yml'), 'utf8');
    expect(provider).toMatch(/type: file/);
  });

  for (const file of dashboardFiles) {
    it(`${file}: every PromQL expression uses only metrics the exporter serves`, async () => {
      const dash = JSON.parse(fs.readFileSync(path.join(dashboardDir, file), 'utf8')) as {
        uid?: string; panels: Array<{ id: number; type: string; title: string; datasource?: { uid?: string }; targets?: unknown[] }>;
      };
      expect(dash.uid).toBeTruthy();
      const exprs = dashboardExpressions(dash);
      expect(exprs.filter((x) => !x.isVariableQuery).length).toBeGreaterThanOrEqual(20);

      // What a two-worker phase-2 run exports after a few steps.
      const m = new TrainingMetrics();
      m.startRun({ phase: 2, nEpochs: 2, stepsPerEpoch: 2, workers: 2, arch: 'tiny18', backend: 'cpu' });
      m.startEpoch(1);
      for (let i = 1; i <= 2; i++) {
        m.recordStep({ epoch: 1, step: i, stepInEpoch: i, images: 8, taskLoss: 0.7, attLoss: 0.1, learningRate: 1e-4,
          workers: [0, 1].map((w) => ({ worker: w, stepS: 0.2, allReduceS: 0.05, allReduceBytes: 4096 })) });
        m.setWorkerMemory(0, { numTensors: 10, numBytes: 1000 });
        m.setWorkerMemory(1, { numTensors: 10, numBytes: 1000 });
        m.setQueueDepth(2);
      }
      m.addEvaluated('val', 8);
      m.recordValidation({ epoch: 1, accuracy: 0.5, iou: 0.25, explanation: { precision: 0.9, recall: 0.5, f1: 0.6 } });
      m.recordCheckpoint();
      const served = new Set(parseExposition(await m.metricsText()).samples.map((s) => s.name));

      const used = new Set<string>();
      for (const x of exprs) {
        const names = promqlMetricNames(x.expr);
        expect(names.length, `${x.where}: no metric in ${x.expr}`).toBeGreaterThan(0);
        for (const n of names) {
          used.add(n);
          expect(served.has(n) || PROMETHEUS_SYNTHETIC.has(n), `${x.where}: ${n} is not exported (${x.expr})`).toBe(true);
        }
        if (!x.isVariableQuery) expect(substituteGrafanaVariables(x.expr)).not.toContain('$');
      }
      // The panels the issue asks for are there.
      for (const n of ['gradia_images_processed_total', 'gradia_step_duration_seconds_bucket', 'gradia_task_loss', 'gradia_attention_loss',
        'gradia_validation_accuracy_ratio', 'gradia_validation_iou_ratio', 'gradia_validation_explanation_ratio', 'gradia_allreduce_duration_seconds_sum', 'gradia_step_duration_seconds_sum',
        'gradia_worker_tfjs_memory_bytes', 'gradia_workers_up', 'gradia_worker_restarts_total']) {
        expect(used.has(n), n).toBe(true);
      }
      const steps = exprs.filter((x) => x.expr.includes('gradia_step_duration_seconds_bucket'));
      expect(steps.map((x) => /histogram_quantile\((0\.\d+)/.exec(x.expr)?.[1]).sort()).toEqual(['0.5', '0.95']);
      for (const x of steps) expect(x.expr).toMatch(/by \(worker, le\)/);

      // Panels: unique ids, every query panel on the dashboard's data-source variable.
      const flat = dash.panels;
      expect(new Set(flat.map((p) => p.id)).size).toBe(flat.length);
      for (const p of flat.filter((q) => q.type !== 'row')) expect(p.datasource?.uid, p.title).toBe('${datasource}');
    });
  }
});
