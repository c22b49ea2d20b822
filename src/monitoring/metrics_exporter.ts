/**
 * Prometheus metrics of a training run (prom-client), served on /metrics.
 *
 * The run loop owns one `TrainingMetrics` and calls its methods; nothing here touches
 * tfjs or the cluster. Naming follows Prometheus conventions: every metric starts with
 * `gradia_`, durations are in seconds, sizes in bytes, ratios in 0..1 (`_ratio`),
 * counters end in `_total`. Labels are bounded: `worker` (replica index), `phase`
 * (1 or 2), `split` (train / val / test), `state` — never a per-image label.
 * prom-client's default process metrics (`process_*`, `nodejs_*`) are included.
 *
 * See docs/monitoring.md for the metric list and the Grafana dashboard.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { GradiaInputError } from '../util/errors.js';
import { RateMeter, etaSeconds, remainingSteps } from './metrics_eta.js';

/** The explanation scores `gradia_validation_explanation_ratio` carries, one series each. */
const EXPLANATION_SCORES = ['precision', 'recall', 'f1'] as const;

/** Default port of `--metrics-port` in the docs and in monitoring/prometheus.yml. */
export const DEFAULT_METRICS_PORT = 9464;

export type Phase = 1 | 2;
export type Split = 'train' | 'val' | 'test';
export type RunState = 'starting' | 'training' | 'evaluating' | 'finished' | 'failed';
export const RUN_STATES: readonly RunState[] = ['starting', 'training', 'evaluating', 'finished', 'failed'];

export const STEP_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
export const ALLREDUCE_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface RunInfo {
  phase: Phase;
  nEpochs: number;
  stepsPerEpoch: number;
  /** Number of replicas (workers are labelled "0" .. String(workers - 1)). */
  workers: number;
  arch?: string;
  backend?: string;
  /** The first epoch this process runs (1-based; > 1 after --resume). */
  startEpoch?: number;
}

/** One replica's share of a training step. */
export interface WorkerStepTiming {
  worker: number | string;
  /** Wall time of the worker's whole step (load, forward/backward, all-reduce, update). */
  stepS: number;
  /** Time spent in the all-reduce (0 with one worker). */
  allReduceS?: number;
  /** Bytes this worker sent during the all-reduce (0 with one worker). */
  allReduceBytes?: number;
}

export interface StepRecord {
  epoch: number;          // 1-based
  step: number;           // global optimizer steps completed so far (after this one)
  stepInEpoch: number;    // steps of this epoch completed (after this one), 1..stepsPerEpoch
  images: number;         // images in this (global) step
  taskLoss: number;       // mean task (cross-entropy) loss of the step
  attLoss: number;        // mean attention loss of the step (0 in phase 1)
  learningRate?: number;
  workers: WorkerStepTiming[];
}

export interface MemoryReading { numTensors: number; numBytes: number }

export interface TrainingMetricsOptions {
  /** Include prom-client's default process metrics (default true). */
  defaultMetrics?: boolean;
  /** Clock in milliseconds (tests inject one); default Date.now. */
  now?: () => number;
}

export interface ServeOptions {
  port: number;             // 0 = an ephemeral port (read it from the result)
  host?: string;            // default 127.0.0.1
  /**
   * Resolve only after Prometheus scraped once (or this many seconds passed), so the
   * first samples precede the first step. Default 0; env GRADIA_METRICS_WAIT_SCRAPE_S,
   * when larger, wins.
   */
  waitForScrapeS?: number;
  /**
   * close() keeps serving this many seconds first (SIGINT/SIGTERM ends the wait early),
   * so Prometheus collects the final values (`--metrics-linger`). Default 0; env
   * GRADIA_METRICS_LINGER_S, when larger, wins.
   */
  lingerS?: number;
}

export interface MetricsServer {
  readonly port: number;
  readonly host: string;
  readonly url: string;     // http://host:port/metrics
  /** Completed scrapes of /metrics so far. */
  readonly scrapes: number;
  /** Resolves true after the next completed scrape, false after timeoutMs. */
  waitForScrape(timeoutMs: number): Promise<boolean>;
  /** Lingers (see ServeOptions.lingerS), then stops the server. Idempotent. */
  close(): Promise<void>;
}

function envSeconds(name: string): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return 0;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new GradiaInputError(null, `${name}=${raw}: expected a number of seconds >= 0`);
  return v;
}

export class TrainingMetrics {
  readonly registry = new Registry();
  private readonly now: () => number;

  readonly runInfo: Gauge<'phase' | 'arch' | 'backend'>;
  readonly runState: Gauge<'state'>;
  readonly runStartTime: Gauge;
  readonly phase: Gauge;
  readonly epoch: Gauge;
  readonly epochs: Gauge;
  readonly step: Gauge;
  readonly epochProgress: Gauge;
  readonly eta: Gauge;
  readonly stepDuration: Histogram<'worker' | 'phase'>;
  readonly imagesProcessed: Counter<'phase' | 'split'>;
  readonly taskLoss: Gauge;
  readonly attentionLoss: Gauge;
  readonly learningRate: Gauge;
  readonly valAccuracy: Gauge;
  readonly valIou: Gauge;
  readonly valExplanation: Gauge<'score'>;
  readonly valEpoch: Gauge;
  readonly allReduceDuration: Histogram<'worker'>;
  readonly allReduceBytes: Counter<'worker'>;
  readonly checkpointAge: Gauge;
  readonly checkpoints: Counter;
  readonly workersUp: Gauge;
  readonly workersConfigured: Gauge;
  readonly workerRestarts: Counter<'worker'>;
  readonly tfjsTensors: Gauge<'worker'>;
  readonly tfjsBytes: Gauge<'worker'>;
  readonly queueDepth: Gauge;

  private info: RunInfo | null = null;
  private runStartMs: number;
  private lastCheckpointMs: number | null = null;
  private readonly stepRate = new RateMeter(60);

  constructor(opts: TrainingMetricsOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.runStartMs = this.now();
    const registers = [this.registry];
    const self = this;

    this.runInfo = new Gauge({ name: 'gradia_run_info', help: 'Constant 1, labelled with the run configuration', labelNames: ['phase', 'arch', 'backend'], registers });
    this.runState = new Gauge({ name: 'gradia_run_state', help: 'Run state: 1 for the current state, 0 for the others', labelNames: ['state'], registers });
    this.runStartTime = new Gauge({ name: 'gradia_run_start_time_seconds', help: 'Unix time the run started', registers });
    this.phase = new Gauge({ name: 'gradia_phase', help: 'Training phase (1: classification only, 2: with the attention loss)', registers });
    this.epoch = new Gauge({ name: 'gradia_epoch', help: 'Current epoch (1-based)', registers });
    this.epochs = new Gauge({ name: 'gradia_epochs', help: 'Number of epochs of the run', registers });
    this.step = new Gauge({ name: 'gradia_step', help: 'Optimizer steps completed (global, across epochs)', registers });
    this.epochProgress = new Gauge({ name: 'gradia_epoch_progress_ratio', help: 'Fraction of the current epoch\'s training steps done (0..1)', registers });
    this.eta = new Gauge({ name: 'gradia_eta_seconds', help: 'Estimated seconds until the last training step of the run (NaN until known)', registers });
    this.stepDuration = new Histogram({ name: 'gradia_step_duration_seconds', help: 'Wall time of one training step on one worker', labelNames: ['worker', 'phase'], buckets: STEP_BUCKETS_S, registers });
    this.imagesProcessed = new Counter({ name: 'gradia_images_processed_total', help: 'Images processed (train: training steps; val/test: evaluation)', labelNames: ['phase', 'split'], registers });
    this.taskLoss = new Gauge({ name: 'gradia_task_loss', help: 'Mean task (cross-entropy) loss of the last training step', registers });
    this.attentionLoss = new Gauge({ name: 'gradia_attention_loss', help: 'Mean attention loss of the last training step (0 in phase 1)', registers });
    this.learningRate = new Gauge({ name: 'gradia_learning_rate', help: 'Optimizer learning rate', registers });
    this.valAccuracy = new Gauge({ name: 'gradia_validation_accuracy_ratio', help: 'Accuracy on the selection split after the last evaluated epoch (NaN before the first)', registers });
    this.valIou = new Gauge({ name: 'gradia_validation_iou_ratio', help: 'Mean Grad-CAM / human-map IoU on the selection split after the last evaluated epoch (NaN when not measured)', registers });
    this.valExplanation = new Gauge({ name: 'gradia_validation_explanation_ratio', help: 'RES\'s explanation precision, recall and F1 (label score) of the Grad-CAM against the human maps on the selection split after the last evaluated epoch, means over the maps (NaN when not measured)', labelNames: ['score'], registers });
    this.valEpoch = new Gauge({ name: 'gradia_validation_epoch', help: 'Epoch of the last validation', registers });
    this.allReduceDuration = new Histogram({ name: 'gradia_allreduce_duration_seconds', help: 'Time one worker spent in the gradient all-reduce of a step', labelNames: ['worker'], buckets: ALLREDUCE_BUCKETS_S, registers });
    this.allReduceBytes = new Counter({ name: 'gradia_allreduce_bytes_total', help: 'Bytes a worker sent in gradient all-reduces', labelNames: ['worker'], registers });
    this.checkpointAge = new Gauge({
      name: 'gradia_checkpoint_age_seconds',
      help: 'Seconds since the last checkpoint was written (since the run started when none yet)',
      registers,
      collect() {
        const since = self.lastCheckpointMs ?? self.runStartMs;
        this.set(Math.max(0, (self.now() - since) / 1000));
      },
    });
    this.checkpoints = new Counter({ name: 'gradia_checkpoints_written_total', help: 'Checkpoints written', registers });
    this.workersUp = new Gauge({ name: 'gradia_workers_up', help: 'Workers (replicas) alive', registers });
    this.workersConfigured = new Gauge({ name: 'gradia_workers_configured', help: 'Workers (replicas) the run asked for', registers });
    this.workerRestarts = new Counter({ name: 'gradia_worker_restarts_total', help: 'Times a worker was restarted after a failure', labelNames: ['worker'], registers });
    this.tfjsTensors = new Gauge({ name: 'gradia_worker_tfjs_tensors', help: 'Live tfjs tensors in a worker (tf.memory().numTensors)', labelNames: ['worker'], registers });
    this.tfjsBytes = new Gauge({ name: 'gradia_worker_tfjs_memory_bytes', help: 'Bytes held by tfjs tensors in a worker (tf.memory().numBytes)', labelNames: ['worker'], registers });
    this.queueDepth = new Gauge({ name: 'gradia_data_queue_depth', help: 'Image-decoding tasks queued behind the workers\' pool threads when the last step\'s data load began (summed over workers)', registers });

    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    this.runStartTime.set(this.runStartMs / 1000);
    this.eta.set(NaN);
    this.valAccuracy.set(NaN);
    this.valIou.set(NaN);
    for (const score of EXPLANATION_SCORES) this.valExplanation.set({ score }, NaN);
    this.setRunState('starting');
  }

  /** Call once the run's shape is known (before the first step). */
  startRun(info: RunInfo): void {
    this.info = info;
    this.runStartMs = this.now();
    this.runStartTime.set(this.runStartMs / 1000);
    this.runInfo.reset();
    this.runInfo.set({ phase: String(info.phase), arch: info.arch ?? 'unknown', backend: info.backend ?? 'unknown' }, 1);
    this.phase.set(info.phase);
    this.epochs.set(info.nEpochs);
    this.epoch.set(info.startEpoch ?? 1);
    this.epochProgress.set(0);
    this.workersConfigured.set(info.workers);
    this.workersUp.set(info.workers);
    const phase = String(info.phase);
    for (let w = 0; w < info.workers; w++) {
      // Series exist from the first scrape, so rate() sees every increase.
      const worker = String(w);
      this.stepDuration.zero({ worker, phase });
      this.allReduceDuration.zero({ worker });
      this.allReduceBytes.inc({ worker }, 0);
      this.workerRestarts.inc({ worker }, 0);
    }
    this.imagesProcessed.inc({ phase, split: 'train' }, 0);
    this.stepRate.reset();
    this.setRunState('training');
  }

  setRunState(state: RunState): void {
    for (const s of RUN_STATES) this.runState.set({ state: s }, s === state ? 1 : 0);
  }

  /** Call at the end of the run (before MetricsServer.close()). */
  endRun(outcome: 'finished' | 'failed'): void {
    if (outcome === 'finished') this.eta.set(0);
    this.setRunState(outcome);
  }

  startEpoch(epoch: number): void {
    this.epoch.set(epoch);
    this.epochProgress.set(0);
    this.setRunState('training');
  }

  /** Call after every optimizer step with the step's numbers. */
  recordStep(s: StepRecord): void {
    const phase = String(this.info?.phase ?? 1);
    for (const w of s.workers) {
      const worker = String(w.worker);
      this.stepDuration.observe({ worker, phase }, w.stepS);
      if (w.allReduceS !== undefined) this.allReduceDuration.observe({ worker }, w.allReduceS);
      if (w.allReduceBytes !== undefined) this.allReduceBytes.inc({ worker }, w.allReduceBytes);
    }
    this.imagesProcessed.inc({ phase, split: 'train' }, s.images);
    this.taskLoss.set(s.taskLoss);
    this.attentionLoss.set(s.attLoss);
    if (s.learningRate !== undefined) this.learningRate.set(s.learningRate);
    this.epoch.set(s.epoch);
    this.step.set(s.step);
    const info = this.info;
    if (info) {
      this.epochProgress.set(Math.min(1, s.stepInEpoch / info.stepsPerEpoch));
      this.stepRate.add(this.now() / 1000, s.step);
      const left = remainingSteps(s.epoch, info.nEpochs, s.stepInEpoch, info.stepsPerEpoch);
      this.eta.set(etaSeconds(left, this.stepRate.rate()));
    }
  }

  setLearningRate(lr: number): void {
    this.learningRate.set(lr);
  }

  /** Images evaluated (validation after an epoch, or the evaluate command). */
  addEvaluated(split: Split, images: number): void {
    this.imagesProcessed.inc({ phase: String(this.info?.phase ?? 1), split }, images);
  }

  /** After evaluating an epoch on the selection split. iou: undefined/NaN when not measured. */
  recordValidation(v: { epoch: number; accuracy: number; iou?: number; explanation?: { precision: number; recall: number; f1: number } }): void {
    this.valAccuracy.set(v.accuracy);
    this.valIou.set(v.iou ?? NaN);
    for (const score of EXPLANATION_SCORES) this.valExplanation.set({ score }, v.explanation?.[score] ?? NaN);
    this.valEpoch.set(v.epoch);
  }

  /** After a checkpoint is on disk. */
  recordCheckpoint(atMs: number = this.now()): void {
    this.lastCheckpointMs = atMs;
    this.checkpoints.inc();
  }

  setWorkersUp(n: number): void {
    this.workersUp.set(n);
  }

  recordWorkerRestart(worker: number | string): void {
    this.workerRestarts.inc({ worker: String(worker) });
  }

  /** tf.memory() of a worker, as reported with its step result. */
  setWorkerMemory(worker: number | string, m: MemoryReading): void {
    this.tfjsTensors.set({ worker: String(worker) }, m.numTensors);
    this.tfjsBytes.set({ worker: String(worker) }, m.numBytes);
  }

  setQueueDepth(n: number): void {
    this.queueDepth.set(n);
  }

  /** The exposition text (what /metrics returns). */
  metricsText(): Promise<string> {
    return this.registry.metrics();
  }

  /** Serve /metrics over HTTP. */
  serve(opts: ServeOptions): Promise<MetricsServer> {
    return serveMetrics(this.registry, opts);
  }
}

/** Serves `registry` on http://host:port/metrics. Rejects with GradiaInputError when the port is taken. */
export async function serveMetrics(registry: Registry, opts: ServeOptions): Promise<MetricsServer> {
  const host = opts.host ?? '127.0.0.1';
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new GradiaInputError(null, `--metrics-port must be a port number 0..65535 (0: any free port), got ${opts.port}`);
  }
  // The environment can only lengthen what the caller asked for (tests set it through the CLI).
  const waitForScrapeS = Math.max(opts.waitForScrapeS ?? 0, envSeconds('GRADIA_METRICS_WAIT_SCRAPE_S'));
  const lingerS = Math.max(opts.lingerS ?? 0, envSeconds('GRADIA_METRICS_LINGER_S'));
  let scrapes = 0;
  let waiters: Array<() => void> = [];

  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': registry.contentType });
          res.end(req.method === 'HEAD' ? undefined : text, () => {
            scrapes++;
            const w = waiters;
            waiters = [];
            for (const f of w) f();
          });
        },
        (err: unknown) => {
          res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(err));
        },
      );
      return;
    }
    if (url === '/' || url === '') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('gradia-dist metrics: see /metrics\n');
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') reject(new GradiaInputError(null, `--metrics-port ${opts.port}: address ${host}:${opts.port} is already in use`));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' || err.code === 'EACCES') reject(new GradiaInputError(null, `--metrics-host ${host} --metrics-port ${opts.port}: cannot listen (${err.code})`));
      else reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(opts.port, host);
  });
  const port = (server.address() as AddressInfo).port;
  // The server alone never keeps a finished process alive (close() is still the clean way).
  server.unref();
  const urlHost = host.includes(':') ? `[${host}]` : host;

  const waitForScrape = (timeoutMs: number): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      let done = false;
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        waiters = waiters.filter((f) => f !== onScrape);
        resolve(false);
      }, timeoutMs);
      const onScrape = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(true);
      };
      waiters.push(onScrape);
    });

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      if (lingerS > 0) await linger(lingerS * 1000);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    })();
    return closing;
  };

  if (waitForScrapeS > 0 && scrapes === 0) await waitForScrape(waitForScrapeS * 1000);

  return {
    port,
    host,
    url: `http://${urlHost}:${port}/metrics`,
    get scrapes() { return scrapes; },
    waitForScrape,
    close,
  };
}

/** Waits lingerMs; SIGINT or SIGTERM ends the wait early. */
async function linger(lingerMs: number): Promise<void> {
  let stop: () => void = () => {};
  const signalled = new Promise<void>((resolve) => { stop = resolve; });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([new Promise<void>((r) => { timer = setTimeout(r, lingerMs); }), signalled]);
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
