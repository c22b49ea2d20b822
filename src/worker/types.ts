// Types shared by the coordinator's cluster and the worker replicas.
import type { BackendRequest } from '../backend/names.js';
import type { TrainSample } from '../data/types.js';
import type { ArchName, CamMode, Normaliser } from '../model/types.js';
import type { ImputationKind, ObjectiveName } from '../model/objectives/types.js';

export type { Normaliser } from '../model/types.js';
import type { HookModuleRef } from './hooks.js';

/** What every replica is built from (identical on all workers). */
export interface ReplicaConfig {
  /** tfjs backend request, as `--backend` (the gpus placement forces 'tensorflow'). */
  backend: BackendRequest;
  arch: ArchName;
  numClasses: number;
  /** Input size S in pixels (a multiple of 32); the attention grid is S / 32. */
  inputSize: number;
  /** Seed of the weight initialisation (same on every replica). */
  seed: number;
  /** Optional safetensors file with initial weights (torchvision keys). */
  weights?: string | null;
  /** Re-initialise fc.* (from `seed`) when the weights file has another class count (default true, as GRADIA does). */
  reinitFc?: boolean;
  lr: number;
  attentionWeight: number;
  /** Grad-CAM for the attention loss: the closed form or the general autodiff path. */
  camMode: CamMode;
  /** Samples per forward/backward pass on a worker (gradient accumulation above it). */
  microBatch: number;
  /** Native compute threads of each replica (oneDNN's OpenMP pool); unset = library default. */
  threads?: number;
  /** Threads of each worker's image pipeline (sharp in piscina). */
  pipelineThreads: number;
  /** Cap on each worker's decoded-image cache, bytes (unset: the pipeline's default). */
  decodeCacheBytes?: number;
  /** Reproduce the original's bug: flip images but not their attention maps. */
  originalFlipBug: boolean;
  /** Batch norm in eval mode while training (running stats used, never updated). */
  freezeBn?: boolean;
  /** All-reduce bucket size in floats. */
  bucketSize?: number;
  /** The explanation objective (default gradia) and RES's settings (docs/objectives.md). */
  objective?: ObjectiveName;
  imputation?: ImputationKind;
  eta?: number;
  imputationReg?: number;
  /** Optional module run at the replica's hook points (src/worker/hooks.ts); tests inject faults with it. */
  hooks?: HookModuleRef | null;
}

/** A training sample as the worker receives it: the data layer's TrainSample + the flip decision. */
export interface ShardSample extends TrainSample {
  /** Index of the sample in the training set (for messages and flips). */
  index: number;
  /** Horizontally flip this image (and its map unless originalFlipBug), decided by the coordinator. */
  flip: boolean;
}

/** What a worker needs of an evaluation sample (the data layer's EvalSample, slimmed). */
export interface EvalShardSample {
  path: string;
  fileName: string;
  label: number;
}


export interface WorkerStepRequest {
  step: number;
  epoch: number;
  samples: ShardSample[];
  norm: Normaliser;
  /** Overrides the config's micro-batch for this step. */
  microBatch?: number;
}

export interface WorkerTimings {
  /** Image loading (decode, resize, flip, normalise). */
  dataS: number;
  /** Forward + backward over all micro-batches. */
  computeS: number;
  /** Ring all-reduce of gradients and BN buffers (allReduceWaitS included). */
  allReduceS: number;
  /** Part of allReduceS spent waiting for the slower workers to finish computing. */
  allReduceWaitS: number;
  /** Adam update. */
  optimizerS: number;
  totalS: number;
}

export interface WorkerStepResult {
  rank: number;
  taskLossSum: number;
  attLossSum: number;
  n: number;
  nAtt: number;
  timings: WorkerTimings;
  allReduceBytes: number;
  memory: { numTensors: number; numBytes: number };
  /** Image-decoding tasks queued in this worker's pool when its data load began. */
  dataQueueDepth: number;
  /**
   * Set when the step found a non-finite loss, gradient or updated weight (e.g. "the task loss
   * is NaN"); the same on every replica. The step then applied nothing (or, for the weights,
   * left the replica unusable): the run must stop.
   */
  nonFinite?: string;
}

export interface WorkerEvalResult {
  rank: number;
  n: number;
  pred: Int32Array;
  /** n * numClasses */
  logits: Float32Array;
  /** n * G * G raw Grad-CAM of the predicted class */
  cams: Float32Array;
  seconds: number;
}

/** Everything a checkpoint needs to resume a replica bit for bit. */
export interface ReplicaState {
  params: Float32Array;
  buffers: Float32Array;
  adam: { m: Float32Array; v: Float32Array; t: number };
}

export interface InitInfo {
  rank: number;
  backend: string;
  backendReason: string;
  pid: number;
  numParams: number;
  numBuffers: number;
  checksum: string;
  /** The weights file had another class count: fc.* was re-initialised (as GRADIA replaces fc). */
  fcReinitialised: boolean;
}
