// The run loop of both GRADIA phases: epochs of deterministic global batches sharded over
// the cluster, evaluation after each epoch, checkpoints (best, per epoch, resumable
// `_last`), resume, restarts after worker faults, progress and metrics. One worker is the
// 1-replica case of the same loop.
import path from 'node:path';
import { flipFor } from '../data/flip.js';
import { buildEvalSet, buildTrainSet, datasetFingerprint } from '../data/phase_dataset.js';
import type { EvalSample, TrainSample } from '../data/types.js';
import { checkArch } from '../model/resnet.js';
import type { ArchName } from '../model/types.js';
import { ProgressDisplay } from '../cli/progress.js';
import { GradiaInputError } from '../util/errors.js';
import { WorkerFailedError, startCluster, type Cluster, type Placement, type ReplicaConfig, type ReplicaState, type ShardSample } from './cluster.js';
import { checkpointExists, explainCheckpointWriteFailure, loadCheckpoint, readCheckpointMeta, saveCheckpoint, type CheckpointMeta, type EpochRecord } from './checkpoint.js';
import { acquireModelDirLock } from './model_dir_lock.js';
import { evaluateSamples, summariseEvaluation } from './evaluation.js';
import { TrainingMetrics, type MetricsServer } from './metrics.js';
import { placementSize, validatePlacement } from './placement.js';
import { planEpoch } from './sharder.js';

export interface RuntimeConfig {
  backend: ReplicaConfig['backend'];
  placement: Placement;
  loaderThreads: number;
  /** Decoded images each replica keeps, in bytes (unset: the pipeline's default). */
  decodeCacheBytes?: number;
  /** Native compute threads per replica (oneDNN). */
  threads: number;
  stepTimeoutS: number;
}

export interface TrainConfig extends RuntimeConfig {
  phase: 1 | 2;
  dataDir: string;
  modelDir: string;
  /** Phase 1: the checkpoint written; phase 2: the phase-1 checkpoint read (outputs <name>_<epoch>). */
  modelName: string;
  arch: string;
  inputSize: number;
  nEpoch: number;
  trainBatch: number;
  microBatch: number;
  testBatch: number;
  lr: number;
  seed: number;
  pretrained: string | null;
  attentionWeight: number;
  reasonability: boolean;
  selectOn: 'val' | 'test';
  camMode: 'closed' | 'autodiff';
  originalFlipBug: boolean;
  freezeBn: boolean;
  resume: boolean;
  maxRestarts: number;
  checkpointEvery: number;
  metricsPort: number | null;
  metricsHost: string;
  metricsLingerS: number;
  /** Weight checksum comparison between replicas every N steps. */
  checkEvery: number;
  quiet?: boolean;
}

export interface TrainSummary {
  phase: 1 | 2;
  epochs: EpochRecord[];
  best: CheckpointMeta['best'];
  last: string;
  modelDir: string;
  backend: string;
  workers: number;
  restarts: number;
}

/** Names of what a run writes. */
export function runNames(phase: 1 | 2, modelName: string) {
  return phase === 1
    ? { last: `${modelName}_last`, best: modelName, epoch: null as null | ((e: number) => string) }
    : { last: `${modelName}_p2_last`, best: `${modelName}_best`, epoch: (e: number) => `${modelName}_${e}` };
}

interface Partial { taskSum: number; attSum: number; n: number; nAtt: number; seconds: number }
const emptyPartial = (): Partial => ({ taskSum: 0, attSum: 0, n: 0, nAtt: 0, seconds: 0 });

/** What a caller asks for: arch and input size default to the phase-1 model's in phase 2. */
export type TrainRequest = Omit<TrainConfig, 'arch' | 'inputSize'> & { arch?: string; inputSize?: number };

/** Trains holding the model dir's lock (checked writable, stale temp files removed) for the whole run. */
export async function runTraining(req: TrainRequest): Promise<TrainSummary> {
  validatePlacement(req.placement); // GPU problems are reported before anything else
  const lock = acquireModelDirLock(req.modelDir, { log: (line) => { if (!req.quiet) process.stderr.write(`${line}\n`); } });
  try {
    return await trainInLockedDir(req);
  } catch (err) {
    throw explainCheckpointWriteFailure(err, req.modelDir, runNames(req.phase, req.modelName).last);
  } finally {
    lock.release();
  }
}

async function trainInLockedDir(req: TrainRequest): Promise<TrainSummary> {
  validatePlacement(req.placement); // GPU problems are reported before anything else
  const parent = req.phase === 2 ? readCheckpointMeta(req.modelDir, req.modelName) : null;
  const cfg: TrainConfig = { ...req, arch: req.arch ?? parent?.arch ?? 'resnet50', inputSize: req.inputSize ?? parent?.inputSize ?? 224 };
  validate(cfg);
  const arch = checkArch(cfg.arch);
  const grid = cfg.inputSize / 32;
  const names = runNames(cfg.phase, cfg.modelName);
  const progress = new ProgressDisplay({ enabled: !cfg.quiet });

  // Data first: every input problem is reported before a worker starts.
  const train = await buildTrainSet(cfg.dataDir, { phase: cfg.phase, reasonability: cfg.reasonability, grid });
  const evalSplit = cfg.phase === 2 ? cfg.selectOn : 'val';
  const evalSet = await buildEvalSet(cfg.dataDir, evalSplit);
  for (const w of [...train.warnings, ...evalSet.warnings]) progress.log(`warning: ${w}`);
  if (cfg.phase === 1 && grid < 2) {
    progress.log(`warning: --input-size ${cfg.inputSize} gives a ${grid}x${grid} Grad-CAM grid: the attention IoU cannot tell where the model looks, and phase 2 will inherit it; use at least 64 px`);
  }
  if (train.samples.length === 0) throw new GradiaInputError(path.join(cfg.dataDir, 'gender_data'), 'no training images');
  const fingerprint = datasetFingerprint(cfg.dataDir);

  let initialWeights: string | null = cfg.pretrained;
  if (parent) {
    if (parent.arch !== arch) throw new GradiaInputError(path.join(cfg.modelDir, `${cfg.modelName}.json`), `is a ${parent.arch} checkpoint, but --arch is ${arch}`);
    if (parent.classes.join('\0') !== train.classes.join('\0')) throw new GradiaInputError(path.join(cfg.modelDir, `${cfg.modelName}.json`), `was trained on classes [${parent.classes.join(', ')}], the data set has [${train.classes.join(', ')}]`);
    initialWeights = path.join(cfg.modelDir, `${cfg.modelName}.safetensors`);
  }

  const metrics = new TrainingMetrics();
  let server: MetricsServer | null = null;
  if (cfg.metricsPort !== null) {
    server = await metrics.serve({ port: cfg.metricsPort, host: cfg.metricsHost, lingerS: cfg.metricsLingerS });
    progress.log(`metrics: ${server.url}`);
  }

  const world = placementSize(cfg.placement);
  const replica: ReplicaConfig = {
    backend: cfg.backend,
    arch,
    numClasses: train.classes.length,
    inputSize: cfg.inputSize,
    seed: cfg.seed,
    weights: initialWeights,
    lr: cfg.lr,
    attentionWeight: cfg.phase === 2 ? cfg.attentionWeight : 0,
    camMode: cfg.camMode,
    microBatch: cfg.microBatch,
    pipelineThreads: cfg.loaderThreads,
    decodeCacheBytes: cfg.decodeCacheBytes,
    threads: cfg.threads,
    originalFlipBug: cfg.originalFlipBug,
    freezeBn: cfg.freezeBn,
  };
  const stepsPerEpoch = Math.ceil(train.samples.length / cfg.trainBatch);
  const loop: LoopContext = { cfg, arch, grid, names, train: train.samples, classes: train.classes, evalSet: evalSet.samples, evalSplit, fingerprint, parent, progress, metrics, world, stepsPerEpoch, backend: '' };

  let restarts = 0;
  let resume = cfg.resume;
  if (resume) {
    if (!checkpointExists(cfg.modelDir, names.last)) {
      throw new GradiaInputError(path.join(cfg.modelDir, `${names.last}.json`), 'nothing to resume: no checkpoint of an interrupted run');
    }
    // Settings are checked before any worker starts; a finished run says so and stops.
    const last = readCheckpointMeta(cfg.modelDir, names.last);
    checkResumable(last, cfg, fingerprint);
    if (last.position.epoch >= cfg.nEpoch) {
      progress.log(`${path.join(cfg.modelDir, names.last)}: all ${last.position.epoch} epochs of this run are done (--n-epoch ${cfg.nEpoch}); nothing to resume. Pass a larger --n-epoch to train on.`);
      progress.finish();
      await server?.close();
      return { phase: cfg.phase, epochs: last.history, best: last.best, last: names.last, modelDir: cfg.modelDir, backend: 'none (nothing to do)', workers: 0, restarts: 0 };
    }
  }
  let outcome: 'finished' | 'failed' = 'failed';
  try {
    for (;;) {
      let cluster: Cluster | null = null;
      try {
        cluster = await startCluster({ placement: cfg.placement, replica, timeoutMs: cfg.stepTimeoutS * 1000, checkEvery: cfg.checkEvery });
        loop.backend = describeBackend(cluster);
        if (!resume && cluster.info[0]?.fcReinitialised) progress.log(`${initialWeights}: its fc layer has another class count; fc re-initialised for ${replica.numClasses} classes`);
        metrics.setWorkersUp(cluster.size);
        const summary = await runEpochs(loop, cluster, resume);
        outcome = 'finished';
        return { ...summary, restarts };
      } catch (err) {
        if (!(err instanceof WorkerFailedError)) throw err;
        const resumable = checkpointExists(cfg.modelDir, names.last);
        if (restarts < cfg.maxRestarts && resumable) {
          restarts++;
          metrics.recordWorkerRestart(err.rank);
          progress.log(`${err.message}; restarting the workers from ${names.last} (restart ${restarts} of ${cfg.maxRestarts})`);
          resume = true;
          continue;
        }
        const hint = resumable ? `; the last checkpoint is ${path.join(cfg.modelDir, names.last)}: rerun with --resume` : '';
        throw new Error(`${err.message}${hint}`);
      } finally {
        metrics.setWorkersUp(0);
        await cluster?.close();
      }
    }
  } finally {
    progress.finish();
    metrics.endRun(outcome);
    await server?.close();
  }
}

interface LoopContext {
  cfg: TrainConfig;
  arch: ArchName;
  grid: number;
  names: ReturnType<typeof runNames>;
  train: TrainSample[];
  classes: string[];
  evalSet: EvalSample[];
  evalSplit: 'val' | 'test';
  fingerprint: string;
  parent: CheckpointMeta | null;
  progress: ProgressDisplay;
  metrics: TrainingMetrics;
  world: number;
  stepsPerEpoch: number;
  backend: string;
}

function describeBackend(cluster: Cluster): string {
  const info = cluster.info;
  const first = info[0];
  return first ? `${first.backend} (${first.backendReason})` : 'unknown';
}

async function runEpochs(ctx: LoopContext, cluster: Cluster, resume: boolean): Promise<Omit<TrainSummary, 'restarts'>> {
  const { cfg, names, progress, metrics } = ctx;
  let position = { epoch: 0, batch: 0 };
  let step = 0;
  let history: EpochRecord[] = [];
  let best: CheckpointMeta['best'] = null;
  let partial = emptyPartial();
  if (resume) {
    const { meta, state } = loadCheckpoint(cfg.modelDir, names.last);
    checkResumable(meta, cfg, ctx.fingerprint);
    if (!state.adam) throw new GradiaInputError(path.join(cfg.modelDir, `${names.last}.json`), 'has no optimizer state to resume from');
    await cluster.setState(state as ReplicaState);
    position = meta.position;
    step = meta.step;
    history = meta.history;
    best = meta.best;
    partial = (meta.config.partial as Partial | undefined) ?? emptyPartial();
    progress.log(`resuming ${names.last}: epoch ${position.epoch + 1}, batch ${position.batch + 1} of ${ctx.stepsPerEpoch}, step ${step}`);
  }
  progress.log(`phase ${cfg.phase}: ${ctx.train.length} training images, ${ctx.evalSet.length} ${ctx.evalSplit} images, ${ctx.classes.length} classes; ${ctx.world} worker(s) on ${ctx.backend}`);
  metrics.startRun({ phase: cfg.phase, nEpochs: cfg.nEpoch, stepsPerEpoch: ctx.stepsPerEpoch, workers: ctx.world, arch: ctx.arch, backend: ctx.backend.split(' ')[0], startEpoch: position.epoch + 1 });
  metrics.setLearningRate(cfg.lr);
  let lastCheckpointStep = step;

  const saveLast = async (pos: { epoch: number; batch: number }, part: Partial) => {
    const state = await cluster.getState();
    saveCheckpoint(cfg.modelDir, baseMeta(ctx, names.last, pos, step, history, best, part), state, true);
    metrics.recordCheckpoint();
    lastCheckpointStep = step;
  };

  for (let epoch = position.epoch; epoch < cfg.nEpoch; epoch++) {
    const plan = planEpoch({ n: ctx.train.length, seed: cfg.seed, epoch, trainBatch: cfg.trainBatch, world: ctx.world, hasAttention: (i) => ctx.train[i]!.attWeight > 0 });
    const firstBatch = epoch === position.epoch ? position.batch : 0;
    if (firstBatch === 0) partial = emptyPartial();
    metrics.setRunState('training');
    metrics.startEpoch(epoch + 1);
    progress.startEpoch({ epoch: epoch + 1, nEpochs: cfg.nEpoch, totalImages: ctx.train.length, phase: cfg.phase });
    let done = plan.steps.slice(0, firstBatch).reduce((a, s) => a + s.reduce((b, r) => b + r.length, 0), 0);
    for (let b = firstBatch; b < plan.steps.length; b++) {
      const shards: ShardSample[][] = plan.steps[b]!.map((idx) => idx.map((i) => ({ index: i, ...ctx.train[i]!, flip: flipFor(cfg.seed, epoch, i) })));
      const r = await cluster.trainStep({ step, epoch, shards, norm: plan.norms[b]!, microBatch: cfg.microBatch });
      if (r.nonFinite) throw new NonFiniteStepError(nonFiniteMessage(ctx, r.nonFinite, step + 1, epoch, b));
      step++;
      partial.taskSum += r.taskLossSum;
      partial.attSum += r.attLossSum;
      partial.n += r.n;
      partial.nAtt += r.nAtt;
      partial.seconds += r.seconds;
      done += r.n;
      const norm = plan.norms[b]!;
      const taskLoss = r.taskLossSum / Math.max(1, norm.globalBatch);
      const attLoss = r.attLossSum / Math.max(1, norm.globalAttCount);
      metrics.recordStep({
        epoch: epoch + 1, step, stepInEpoch: b + 1, images: r.n, taskLoss, attLoss, learningRate: cfg.lr,
        workers: r.workers.map((w) => ({ worker: w.rank, stepS: w.timings.totalS, allReduceS: w.timings.allReduceS, allReduceBytes: w.allReduceBytes })),
      });
      for (const w of r.workers) metrics.setWorkerMemory(w.rank, w.memory);
      metrics.setQueueDepth(r.workers.reduce((a, w) => a + w.dataQueueDepth, 0));
      progress.update({ done, taskLoss: partial.taskSum / Math.max(1, partial.n), attLoss: partial.attSum / Math.max(1, partial.nAtt) });
      if (cfg.checkpointEvery > 0 && step - lastCheckpointStep >= cfg.checkpointEvery && b + 1 < plan.steps.length) {
        await saveLast({ epoch, batch: b + 1 }, partial);
      }
    }

    // End of epoch: evaluate, write the epoch's checkpoints, then the resumable one.
    metrics.setRunState('evaluating');
    const results = await evaluateSamples(cluster, ctx.evalSet, cfg.testBatch);
    metrics.addEvaluated(ctx.evalSplit, ctx.evalSet.length);
    const ev = summariseEvaluation(ctx.evalSet, results, ctx.classes, ctx.grid);
    metrics.recordValidation({ epoch: epoch + 1, accuracy: ev.accuracy, iou: ev.iou ?? undefined });
    const record: EpochRecord = {
      epoch: epoch + 1,
      taskLoss: partial.taskSum / Math.max(1, partial.n),
      attLoss: partial.nAtt ? partial.attSum / partial.nAtt : 0,
      accuracy: ev.accuracy,
      iou: ev.iou,
      seconds: partial.seconds,
      images: partial.n,
    };
    history = [...history, record];
    const metric = cfg.phase === 1 ? 'accuracy' : 'iou';
    const value = metric === 'accuracy' ? ev.accuracy : (ev.iou ?? 0);
    const isBest = best === null || value > best.value;
    const state = await cluster.getState();
    let written = '';
    if (names.epoch) {
      written = names.epoch(epoch + 1);
      saveCheckpoint(cfg.modelDir, baseMeta(ctx, written, { epoch: epoch + 1, batch: 0 }, step, history, best, emptyPartial()), state, false);
    }
    if (isBest) {
      best = { metric, value, name: names.best, epoch: epoch + 1 };
      saveCheckpoint(cfg.modelDir, baseMeta(ctx, names.best, { epoch: epoch + 1, batch: 0 }, step, history, best, emptyPartial()), state, false);
      written = written ? `${written}, ${names.best}` : names.best;
    }
    saveCheckpoint(cfg.modelDir, baseMeta(ctx, names.last, { epoch: epoch + 1, batch: 0 }, step, history, best, emptyPartial()), state, true);
    metrics.recordCheckpoint();
    lastCheckpointStep = step;
    progress.endEpoch({
      phase: cfg.phase, epoch: epoch + 1, nEpochs: cfg.nEpoch, images: partial.n, seconds: partial.seconds,
      taskLoss: record.taskLoss, attLoss: cfg.phase === 2 ? record.attLoss : undefined,
      accuracy: ev.accuracy, iou: ev.iou ?? undefined, best: isBest, checkpoint: written || undefined,
    });
  }
  metrics.setRunState('finished');
  return { phase: cfg.phase, epochs: history, best, last: names.last, modelDir: cfg.modelDir, backend: ctx.backend, workers: ctx.world };
}

function baseMeta(ctx: LoopContext, name: string, position: { epoch: number; batch: number }, step: number, history: EpochRecord[], best: CheckpointMeta['best'], partial: Partial): Omit<CheckpointMeta, 'id' | 'format' | 'createdAt' | 'hasOptimizer'> {
  const { cfg } = ctx;
  const last = history[history.length - 1];
  return {
    name,
    arch: ctx.arch,
    classes: ctx.classes,
    numClasses: ctx.classes.length,
    inputSize: cfg.inputSize,
    phase: cfg.phase,
    epoch: position.epoch,
    step,
    position,
    metrics: last ? { accuracy: last.accuracy, iou: last.iou, taskLoss: last.taskLoss, attLoss: last.attLoss } : ({} as Record<string, number | null>),
    history,
    best,
    parent: ctx.parent?.id ?? null,
    config: { ...configForMeta(cfg), partial },
    dataFingerprint: ctx.fingerprint,
  };
}

/** The settings that decide the result (what a resume must match). */
function configForMeta(cfg: TrainConfig): Record<string, unknown> {
  return {
    phase: cfg.phase, arch: cfg.arch, inputSize: cfg.inputSize, nEpoch: cfg.nEpoch, trainBatch: cfg.trainBatch, microBatch: cfg.microBatch,
    lr: cfg.lr, seed: cfg.seed, attentionWeight: cfg.attentionWeight, reasonability: cfg.reasonability, selectOn: cfg.selectOn,
    camMode: cfg.camMode, originalFlipBug: cfg.originalFlipBug, freezeBn: cfg.freezeBn, pretrained: cfg.pretrained,
    workers: placementSize(cfg.placement),
  };
}

/** Settings a resumed run may change: everything else in configForMeta decides the result. */
const CHANGEABLE_ON_RESUME = new Set(['nEpoch']);

/** The flag that sets a configForMeta key (`microBatch` -> `--micro-batch`). */
const flagOf = (key: string): string => (key === 'workers' ? '--workers/--gpus' : key === 'camMode' ? '--cam' : `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);

function checkResumable(meta: CheckpointMeta, cfg: TrainConfig, fingerprint: string): void {
  const file = path.join(cfg.modelDir, `${meta.name}.json`);
  const want = configForMeta(cfg);
  for (const [key, value] of Object.entries(want)) {
    // A key missing from an older checkpoint cannot be checked.
    if (CHANGEABLE_ON_RESUME.has(key) || !(key in meta.config)) continue;
    if (meta.config[key] !== value) {
      throw new GradiaInputError(file, `was written with ${flagOf(key)} ${JSON.stringify(meta.config[key])}, this run has ${JSON.stringify(value)}: a resumed run must keep every setting that decides the result (only --n-epoch may change)`);
    }
  }
  if (meta.dataFingerprint !== fingerprint) throw new GradiaInputError(file, 'the data set changed since this checkpoint was written (fingerprint differs)');
}

/** A step found a non-finite loss, gradient or weight; nothing of it was applied or saved. */
export class NonFiniteStepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteStepError';
  }
}

function nonFiniteMessage(ctx: LoopContext, what: string, step: number, epoch: number, batch: number): string {
  const { cfg, names } = ctx;
  const saved = checkpointExists(cfg.modelDir, names.last)
    ? `the last checkpoint ${path.join(cfg.modelDir, names.last)} (step ${readCheckpointMeta(cfg.modelDir, names.last).step}) is intact`
    : 'no checkpoint of this run was written';
  return `step ${step} (epoch ${epoch + 1}, batch ${batch + 1}): ${what}; the step was not applied and nothing was saved (${saved}). `
    + `The learning rate may be too large (--lr ${cfg.lr.toExponential()}): lower it and start again${cfg.pretrained ? `, or check --pretrained ${cfg.pretrained}` : ''}`;
}

function validate(cfg: TrainConfig): void {
  if (cfg.inputSize % 32 !== 0 || cfg.inputSize < 32) throw new GradiaInputError(null, `--input-size must be a positive multiple of 32 (got ${cfg.inputSize})`);
  if (cfg.trainBatch < 1) throw new GradiaInputError(null, `--train-batch must be at least 1 (got ${cfg.trainBatch})`);
  if (cfg.microBatch < 1) throw new GradiaInputError(null, `--micro-batch must be at least 1 (got ${cfg.microBatch})`);
  if (cfg.testBatch < 1) throw new GradiaInputError(null, `--test-batch must be at least 1 (got ${cfg.testBatch})`);
  if (!(cfg.lr > 0)) throw new GradiaInputError(null, `--lr must be positive (got ${cfg.lr})`);
  if (cfg.nEpoch < 1) throw new GradiaInputError(null, `--n-epoch must be at least 1 (got ${cfg.nEpoch})`);
}

