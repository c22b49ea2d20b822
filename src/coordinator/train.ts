// The run loop of both GRADIA phases: epochs of deterministic global batches sharded over
// the cluster, evaluation after each epoch, checkpoints (CheckpointPolicy), resume, and
// restarts after worker faults. Progress and metrics are observers (RunEvents) the loop
// notifies. One worker is the 1-replica case of the same loop.
import path from 'node:path';
import { gridOf, checkInputSize } from '../config/geometry.js';
import { recordedSettings, replicaSettings, resumeConflicts, type DataOptions, type TrainOptions } from '../config/run_spec.js';
import { buildEvalSet, buildTrainSet, datasetFingerprint } from '../data/phase_dataset.js';
import type { EvalSample, TrainSample } from '../data/types.js';
import { checkArch } from '../model/resnet.js';
import type { ArchName } from '../model/types.js';
import { GradiaInputError } from '../util/errors.js';
import { WorkerFailedError, type Placement, type ReplicaConfig, type ReplicaState, type StepMetrics } from './cluster.js';
import { checkSameClasses, checkpointExists, explainCheckpointWriteFailure, loadCheckpoint, readCheckpointMeta, resumeHint, saveCheckpoint, type CheckpointMeta, type EpochProgress, type EpochRecord } from './checkpoint.js';
import { CheckpointPolicy, type Best } from './checkpoint_policy.js';
import { acquireModelDirLock } from './model_dir_lock.js';
import { evaluateSamples, summariseEvaluation } from './evaluation.js';
import { placementSize, validatePlacement } from './placement.js';
import { fanOut, type RunEvents, type RunObserver } from './run_events.js';
import { planEpoch, shardSamples } from './sharder.js';
import { RankFailedError } from './mpi_cluster.js';
import { startTrainingCluster, type TrainingCluster as Cluster } from './training_cluster.js';

/** Where and how the replicas run (resolved from RUNTIME_OPTIONS). */
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

/** What a caller asks for: the run spec's data and training options; arch and input size default to the phase-1 model's in phase 2. */
export type TrainRequest = RuntimeConfig & DataOptions & TrainOptions & {
  /** Progress display, metrics exporter, ...: notified of every event of the run. */
  observers?: RunObserver[];
};

/** A request with arch and input size settled. */
export type TrainConfig = Omit<TrainRequest, 'arch' | 'inputSize'> & { arch: ArchName; inputSize: number };

export interface TrainSummary {
  phase: 1 | 2;
  epochs: EpochRecord[];
  best: Best;
  last: string;
  modelDir: string;
  backend: string;
  workers: number;
  restarts: number;
}

/** Everything the loop reads that does not change during the run. */
interface Run {
  cfg: TrainConfig;
  grid: number;
  train: TrainSample[];
  classes: string[];
  evalSet: EvalSample[];
  evalSplit: 'val' | 'test';
  fingerprint: string;
  parent: CheckpointMeta | null;
  world: number;
  stepsPerEpoch: number;
  events: RunEvents;
  /** Does this process write checkpoints? (all but the ranks > 0 of an MPI job) */
  writer: boolean;
}

/** Ranks > 0 of an MPI job leave the model dir (lock, checkpoints) to rank 0. */
const writesModelDir = (p: Placement): boolean => p.kind !== 'mpi' || p.rank === 0;

/** Where the loop stands: what a resumable checkpoint records. */
interface LoopState {
  step: number;
  /** 0-based epoch and the next global batch in it. */
  position: { epoch: number; batch: number };
  history: EpochRecord[];
  /** Running sums of the current epoch (its loss means continue across a resume). */
  epochProgress: EpochProgress;
}

const noProgress = (): EpochProgress => ({ taskSum: 0, attSum: 0, n: 0, nAtt: 0, seconds: 0 });

/** Trains holding the model dir's lock (checked writable, stale temp files removed) for the whole run. */
export async function runTraining(req: TrainRequest): Promise<TrainSummary> {
  validatePlacement(req.placement); // GPU problems are reported before anything else
  const events = fanOut(req.observers ?? []);
  const policy = new CheckpointPolicy(req.phase, req.modelName, req.checkpointEvery);
  const lock = writesModelDir(req.placement) ? acquireModelDirLock(req.modelDir, { log: (line) => events.log(line) }) : null;
  try {
    return await trainInLockedDir(req, events, policy);
  } catch (err) {
    throw explainCheckpointWriteFailure(err, req.modelDir, policy.last);
  } finally {
    lock?.release();
  }
}

async function trainInLockedDir(req: TrainRequest, events: RunEvents, policy: CheckpointPolicy): Promise<TrainSummary> {
  const parent = req.phase === 2 ? readCheckpointMeta(req.modelDir, req.modelName) : null;
  const cfg: TrainConfig = { ...req, arch: checkArch(req.arch ?? parent?.arch ?? 'resnet50'), inputSize: checkInputSize(req.inputSize ?? parent?.inputSize ?? 224) };
  const grid = gridOf(cfg.inputSize);

  // Data first: every input problem is reported before a worker starts.
  const labelBudget = cfg.labelBudget === null ? null : { perClass: cfg.labelBudget, seed: cfg.labelSeed };
  // RES's objectives read RES's grid targets ({-1, 0, 1}, nearest-neighbour); RES-L also the full mask
  const resObjective = cfg.phase === 2 && cfg.objective !== 'gradia';
  const train = await buildTrainSet(cfg.dataDir, {
    phase: cfg.phase, reasonability: cfg.reasonability, grid, labelBudget,
    targets: resObjective ? 'res' : 'gradia', fullMask: cfg.phase === 2 && cfg.objective === 'res-l',
  });
  const evalSplit = cfg.phase === 2 ? cfg.selectOn : 'val';
  const evalSet = await buildEvalSet(cfg.dataDir, evalSplit);
  for (const w of [...train.warnings, ...evalSet.warnings]) events.log(`warning: ${w}`);
  if (labelBudget && cfg.phase === 1) events.log('warning: --label-budget only matters in phase 2 (phase 1 uses no maps)');
  if (!labelBudget && cfg.labelSeed !== 0) events.log('warning: --label-seed without --label-budget changes nothing (every map is used)');
  if (cfg.phase === 1 && cfg.objective !== 'gradia') events.log(`warning: --objective ${cfg.objective} only matters in phase 2 (phase 1 trains on the task loss alone)`);
  if (train.budget) events.log(`label budget: ${train.budget.map((c, i) => `${train.classes[i]} ${c.kept} of ${c.available} maps`).join(', ')} (--label-seed ${cfg.labelSeed})`);
  if (cfg.phase === 1 && grid < 2) {
    events.log(`warning: --input-size ${cfg.inputSize} gives a ${grid}x${grid} Grad-CAM grid: the attention IoU cannot tell where the model looks, and phase 2 will inherit it; use at least 64 px`);
  }
  if (train.samples.length === 0) throw new GradiaInputError(path.join(cfg.dataDir, 'gender_data'), 'no training images');

  let initialWeights: string | null = cfg.pretrained;
  if (parent) {
    const sidecar = path.join(cfg.modelDir, `${cfg.modelName}.json`);
    if (parent.arch !== cfg.arch) throw new GradiaInputError(sidecar, `is a ${parent.arch} checkpoint, but --arch is ${cfg.arch}`);
    checkSameClasses(cfg.modelDir, cfg.modelName, parent.classes, train.classes);
    initialWeights = path.join(cfg.modelDir, `${cfg.modelName}.safetensors`);
  }

  const run: Run = {
    cfg, grid, train: train.samples, classes: train.classes, evalSet: evalSet.samples, evalSplit, fingerprint: datasetFingerprint(cfg.dataDir),
    parent, world: placementSize(cfg.placement), stepsPerEpoch: Math.ceil(train.samples.length / cfg.trainBatch), events,
    writer: writesModelDir(cfg.placement),
  };

  // Settings are checked before any worker starts; a finished run says so and stops.
  let startCheckpoint: { id: string; file: string } | null = parent ? { id: parent.id, file: path.join(cfg.modelDir, `${cfg.modelName}.json`) } : null;
  if (cfg.resume) {
    if (!checkpointExists(cfg.modelDir, policy.last)) {
      throw new GradiaInputError(path.join(cfg.modelDir, `${policy.last}.json`), 'nothing to resume: no checkpoint of an interrupted run');
    }
    const last = readCheckpointMeta(cfg.modelDir, policy.last);
    checkResumable(run, last);
    startCheckpoint = { id: last.id, file: path.join(cfg.modelDir, `${policy.last}.json`) };
    if (last.position.epoch >= cfg.nEpoch) {
      events.log(`${path.join(cfg.modelDir, policy.last)}: all ${last.position.epoch} epochs of this run are done (--n-epoch ${cfg.nEpoch}); nothing to resume. Pass a larger --n-epoch to train on.`);
      return { phase: cfg.phase, epochs: last.history, best: last.best, last: policy.last, modelDir: cfg.modelDir, backend: 'none (nothing to do)', workers: 0, restarts: 0 };
    }
  }

  const replica: ReplicaConfig = {
    ...replicaSettings(cfg),
    // phase 1 trains on the task loss alone
    attentionWeight: cfg.phase === 2 ? cfg.attentionWeight : 0,
    objective: cfg.phase === 2 ? cfg.objective : 'gradia', // the objectives are phase 2's
    backend: cfg.backend, numClasses: train.classes.length, weights: initialWeights,
    pipelineThreads: cfg.loaderThreads, decodeCacheBytes: cfg.decodeCacheBytes, threads: cfg.threads,
  };
  let restarts = 0;
  let resume = cfg.resume;
  let outcome: 'finished' | 'failed' = 'failed';
  try {
    for (;;) {
      let cluster: Cluster | null = null;
      try {
        const started = await startTrainingCluster({
          placement: cfg.placement, replica, timeoutMs: cfg.stepTimeoutS * 1000, checkEvery: cfg.checkEvery,
          agreement: { dataset: run.fingerprint, dataDir: cfg.dataDir, checkpoint: startCheckpoint?.id ?? null, checkpointFile: startCheckpoint?.file ?? null },
        });
        cluster = started.cluster;
        for (const line of started.world) events.log(line);
        const backend = cluster.info[0] ? `${cluster.info[0].backend} (${cluster.info[0].backendReason})` : 'unknown';
        if (!resume && cluster.info[0]?.fcReinitialised) events.log(`${initialWeights}: its fc layer has another class count; fc re-initialised for ${replica.numClasses} classes`);
        events.workersUp(cluster.size);
        const start = resume ? await resumeFrom(run, cluster, policy) : { step: 0, position: { epoch: 0, batch: 0 }, history: [], epochProgress: noProgress() };
        events.log(`phase ${cfg.phase}: ${run.train.length} training images, ${run.evalSet.length} ${evalSplit} images, ${run.classes.length} classes; ${run.world} worker(s) on ${backend}`);
        events.runStart({ phase: cfg.phase, nEpochs: cfg.nEpoch, stepsPerEpoch: run.stepsPerEpoch, workers: run.world, arch: cfg.arch, backend: backend.split(' ')[0]!, startEpoch: start.position.epoch + 1, lr: cfg.lr });
        const end = await runEpochs(run, cluster, policy, start);
        outcome = 'finished';
        return { phase: cfg.phase, epochs: end.history, best: policy.best, last: policy.last, modelDir: cfg.modelDir, backend, workers: run.world, restarts };
      } catch (err) {
        if (err instanceof RankFailedError) {
          // An MPI rank died or stalled: no restart (the job is aborted); say what to resume from.
          throw new RankFailedError(`${err.message}${resumeHint(cfg.modelDir, policy.last)}`, err.report);
        }
        if (!(err instanceof WorkerFailedError)) throw err;
        if (restarts < cfg.maxRestarts && checkpointExists(cfg.modelDir, policy.last)) {
          restarts++;
          events.workerRestart(err.rank);
          events.log(`${err.message}; restarting the workers from ${policy.last} (restart ${restarts} of ${cfg.maxRestarts})`);
          resume = true;
          continue;
        }
        throw new Error(`${err.message}${resumeHint(cfg.modelDir, policy.last)}`);
      } finally {
        events.workersUp(0);
        await cluster?.close();
      }
    }
  } finally {
    events.runEnd(outcome);
  }
}

/** Loads the resumable checkpoint into the cluster; the loop continues where it stopped. */
async function resumeFrom(run: Run, cluster: Cluster, policy: CheckpointPolicy): Promise<LoopState> {
  const { meta, state } = loadCheckpoint(run.cfg.modelDir, policy.last);
  checkResumable(run, meta);
  if (!state.adam) throw new GradiaInputError(path.join(run.cfg.modelDir, `${policy.last}.json`), 'has no optimizer state to resume from');
  await cluster.setState(state as ReplicaState);
  policy.best = meta.best;
  run.events.log(`resuming ${policy.last}: epoch ${meta.position.epoch + 1}, batch ${meta.position.batch + 1} of ${run.stepsPerEpoch}, step ${meta.step}`);
  // Checkpoints before the typed record kept the running sums in config.partial.
  const legacy = meta.config.partial as EpochProgress | undefined;
  return { step: meta.step, position: meta.position, history: meta.history, epochProgress: meta.epochProgress ?? legacy ?? noProgress() };
}

/** The epochs: shard, step, (checkpoint); evaluate, checkpoint. Returns where it ended. */
async function runEpochs(run: Run, cluster: Cluster, policy: CheckpointPolicy, start: LoopState): Promise<LoopState> {
  const { cfg, events } = run;
  let { step, history } = start;
  let lastSavedStep = step;
  const save = async (name: string, best: Best, at: LoopState, resumable: boolean, state?: ReplicaState) => {
    const s = state ?? await cluster.getState(); // a collective under MPI: every rank takes part
    if (run.writer) saveCheckpoint(cfg.modelDir, checkpointMeta(run, name, best, at), s, resumable);
    if (name === policy.last) { events.checkpointSaved(); lastSavedStep = at.step; }
  };

  for (let epoch = start.position.epoch; epoch < cfg.nEpoch; epoch++) {
    const plan = planEpoch({ n: run.train.length, seed: cfg.seed, epoch, trainBatch: cfg.trainBatch, world: run.world, hasAttention: (i) => run.train[i]!.attWeight > 0 });
    const firstBatch = epoch === start.position.epoch ? start.position.batch : 0;
    const sums = firstBatch === 0 ? noProgress() : { ...start.epochProgress };
    let done = plan.steps.slice(0, firstBatch).flat(2).length;
    events.epochStart({ phase: cfg.phase, epoch: epoch + 1, nEpochs: cfg.nEpoch, totalImages: run.train.length, doneImages: done });

    for (let b = firstBatch; b < plan.steps.length; b++) {
      const norm = plan.norms[b]!;
      const r = await cluster.trainStep({ step, epoch, shards: shardSamples(plan.steps[b]!, run.train, cfg.seed, epoch), norm, microBatch: cfg.microBatch });
      if (r.nonFinite) throw new NonFiniteStepError(nonFiniteMessage(run, policy, r.nonFinite, step + 1, epoch, b));
      step++;
      addStep(sums, r);
      done += r.n;
      events.step({
        phase: cfg.phase, epoch: epoch + 1, step, stepInEpoch: b + 1, doneImages: done, lr: cfg.lr, result: r,
        taskLoss: r.taskLossSum / Math.max(1, norm.globalBatch), attLoss: r.attLossSum / Math.max(1, norm.globalAttCount),
        epochTaskLoss: sums.taskSum / Math.max(1, sums.n), epochAttLoss: sums.attSum / Math.max(1, sums.nAtt),
      });
      if (policy.midEpochDue(step, lastSavedStep, b, plan.steps.length)) {
        await save(policy.last, policy.best, { step, position: { epoch, batch: b + 1 }, history, epochProgress: sums }, true);
      }
    }

    // End of epoch: evaluate, then write the epoch's checkpoints, the resumable one last.
    events.evaluating();
    const ev = summariseEvaluation(run.evalSet, await evaluateSamples(cluster, run.evalSet, cfg.testBatch), run.classes, run.grid);
    const record: EpochRecord = {
      epoch: epoch + 1, taskLoss: sums.taskSum / Math.max(1, sums.n), attLoss: sums.nAtt ? sums.attSum / sums.nAtt : 0,
      accuracy: ev.accuracy, iou: ev.iou, explanation: ev.explanation, seconds: sums.seconds, images: sums.n,
    };
    history = [...history, record];
    const previousBest = policy.best;
    const writes = policy.endOfEpoch(record);
    const state = await cluster.getState();
    const at: LoopState = { step, position: { epoch: epoch + 1, batch: 0 }, history, epochProgress: noProgress() };
    for (const w of writes) await save(w.name, w.best, at, w.resumable, state);
    events.epochEnd({
      phase: cfg.phase, nEpochs: cfg.nEpoch, record, split: run.evalSplit, evaluated: run.evalSet.length,
      best: policy.best !== previousBest, written: writes.filter((w) => !w.resumable).map((w) => w.name),
    });
  }
  return { step, position: { epoch: cfg.nEpoch, batch: 0 }, history, epochProgress: noProgress() };
}

function addStep(sums: EpochProgress, r: StepMetrics): void {
  sums.taskSum += r.taskLossSum;
  sums.attSum += r.attLossSum;
  sums.n += r.n;
  sums.nAtt += r.nAtt;
  sums.seconds += r.seconds;
}

function checkpointMeta(run: Run, name: string, best: Best, at: LoopState): Omit<CheckpointMeta, 'id' | 'format' | 'createdAt' | 'hasOptimizer'> {
  const { cfg } = run;
  const last = at.history[at.history.length - 1];
  return {
    name,
    arch: cfg.arch,
    classes: run.classes,
    numClasses: run.classes.length,
    inputSize: cfg.inputSize,
    phase: cfg.phase,
    epoch: at.position.epoch,
    step: at.step,
    position: at.position,
    metrics: last ? { accuracy: last.accuracy, iou: last.iou, taskLoss: last.taskLoss, attLoss: last.attLoss } : {},
    history: at.history,
    best,
    parent: run.parent?.id ?? null,
    config: recordedSettings(cfg, run.world),
    epochProgress: at.epochProgress,
    dataFingerprint: run.fingerprint,
  };
}

function checkResumable(run: Run, meta: CheckpointMeta): void {
  const file = path.join(run.cfg.modelDir, `${meta.name}.json`);
  const conflict = resumeConflicts(meta.config, recordedSettings(run.cfg, run.world))[0];
  if (conflict) throw new GradiaInputError(file, `was written with ${conflict}: a resumed run must keep every setting that decides the result (only --n-epoch may change)`);
  if (meta.dataFingerprint !== run.fingerprint) throw new GradiaInputError(file, 'the data set changed since this checkpoint was written (fingerprint differs)');
}

/** A step found a non-finite loss, gradient or weight; nothing of it was applied or saved. */
export class NonFiniteStepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteStepError';
  }
}

function nonFiniteMessage(run: Run, policy: CheckpointPolicy, what: string, step: number, epoch: number, batch: number): string {
  const { cfg } = run;
  const saved = checkpointExists(cfg.modelDir, policy.last)
    ? `the last checkpoint ${path.join(cfg.modelDir, policy.last)} (step ${readCheckpointMeta(cfg.modelDir, policy.last).step}) is intact`
    : 'no checkpoint of this run was written';
  return `step ${step} (epoch ${epoch + 1}, batch ${batch + 1}): ${what}; the step was not applied and nothing was saved (${saved}). `
    + `The learning rate may be too large (--lr ${cfg.lr.toExponential()}): lower it and start again${cfg.pretrained ? `, or check --pretrained ${cfg.pretrained}` : ''}`;
}
