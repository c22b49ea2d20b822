// One data-parallel replica: backend, model, optimizer state, image pipeline, and the
// all-reduce ring it shares with the other replicas.
import { tf } from '../backend/tf.js';
import { initBackend, type BackendRequest } from '../backend/select.js';
import { crc32 } from '../comm/codec.js';
import type { AllReducer } from '../comm/ring.js';
import { flipMap } from '../data/flip.js';
import {
  adamStep, bufferLayout, computeGradients, createAdamState, createModel,
  disposeModel, evaluateBatch, loadWeights, paramLayout, readBuffers, readParams, writeBuffers, writeParams,
  type AdamState, type GradOptions, type Model, type TrainBatch,
} from '../model/index.js';
import { findNonFinite, nonFiniteKind } from '../model/finite.js';
import { GradiaInputError } from '../util/errors.js';
import { loadReplicaHooks, type ReplicaHooks } from './hooks.js';
import { openImageLoader, type ImageLoader } from './images.js';
import { attachImputation, DEFAULT_OBJECTIVE, objectiveFor, type ImputationParams, type ObjectiveSettings } from '../model/objectives/index.js';
import { flipMaskU8 } from '../data/flip.js';
import { robustPass } from './robust_pass.js';
import { checkInputSize, gridOf } from '../config/geometry.js';
import type {
  EvalShardSample, InitInfo, ReplicaConfig, ReplicaState, ShardSample, WorkerEvalResult, WorkerStepRequest, WorkerStepResult,
} from './types.js';

const now = (): number => performance.now() / 1000;

function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}


export class Replica {
  private readonly P: number;
  private readonly B: number;
  /** Indices (in the flat buffer vector) of num_batches_tracked entries. */
  private readonly counterIdx: number[];
  /** The step's collective vector, reused every step: [gradients | BN buffers | active] (see trainStep). */
  private stepVec: Float32Array | null = null;

  private constructor(
    private readonly config: ReplicaConfig,
    readonly rank: number,
    readonly world: number,
    private readonly ring: AllReducer,
    private readonly model: Model,
    private params: Float32Array,
    private adam: AdamState,
    private readonly loader: ImageLoader,
    private readonly backend: { name: string; reason: string },
    private readonly fcReinitialised: boolean,
    private readonly hooks: ReplicaHooks,
    private readonly imputation: ImputationParams | null,
  ) {
    this.P = params.length;
    const bl = bufferLayout(model);
    this.B = bl.total;
    this.counterIdx = [];
    bl.names.forEach((name, i) => {
      if (name.endsWith('num_batches_tracked')) for (let j = 0; j < bl.sizes[i]; j++) this.counterIdx.push(bl.offsets[i] + j);
    });
  }

  static async create(config: ReplicaConfig, rank: number, world: number, ring: AllReducer): Promise<Replica> {
    checkInputSize(config.inputSize, 'input size');
    if (!Number.isInteger(config.microBatch) || config.microBatch < 1) throw new GradiaInputError(null, `--micro-batch must be a positive integer (got ${config.microBatch})`);
    const backend = await initBackend(config.backend as BackendRequest, { threads: config.threads });
    const model = createModel(config.arch, config.numClasses, config.seed);
    const fcReinitialised = config.weights ? loadWeights(model, config.weights, { reinitFc: config.reinitFc ?? true, seed: config.seed }).fcReinitialised : false;
    // RES-L's network joins the parameters (after fc): flat vector, all-reduce, Adam, checksum
    const imputation = config.objective === 'res-l' ? attachImputation(model, config.imputation ?? DEFAULT_OBJECTIVE.imputation, config.seed) : null;
    const params = readParams(model);
    const loader = await openImageLoader({ size: config.inputSize, threads: config.pipelineThreads, cacheBytes: config.decodeCacheBytes });
    const hooks = await loadReplicaHooks(config.hooks);
    return new Replica(config, rank, world, ring, model, params, createAdamState(params.length), loader, backend, fcReinitialised, hooks, imputation);
  }

  info(): InitInfo {
    return {
      rank: this.rank, backend: this.backend.name, backendReason: this.backend.reason, pid: process.pid,
      numParams: this.P, numBuffers: this.B, checksum: this.checksum(), fcReinitialised: this.fcReinitialised,
    };
  }

  private objectiveSettings(): ObjectiveSettings {
    const c = this.config;
    return {
      objective: c.objective ?? DEFAULT_OBJECTIVE.objective, imputation: c.imputation ?? DEFAULT_OBJECTIVE.imputation,
      eta: c.eta ?? DEFAULT_OBJECTIVE.eta, imputationReg: c.imputationReg ?? DEFAULT_OBJECTIVE.imputationReg,
    };
  }

  private grid(): number {
    return gridOf(this.config.inputSize);
  }

  private buildMicroBatches(samples: ShardSample[], images: Float32Array, mb: number): TrainBatch[] {
    const S = this.config.inputSize;
    const G = this.grid();
    const px = S * S * 3;
    const out: TrainBatch[] = [];
    const withMasks = objectiveFor(this.objectiveSettings().objective).needsMasks;
    for (let a = 0; a < samples.length; a += mb) {
      const part = samples.slice(a, a + mb);
      const n = part.length;
      const targets = new Float32Array(n * G * G);
      part.forEach((s, i) => {
        if (!s.target) return;
        if (s.target.length !== G * G) throw new GradiaInputError(s.path, `attention target has ${s.target.length} values, expected ${G}x${G} for input size ${S}`);
        targets.set(s.flip && !this.config.originalFlipBug ? flipMap(s.target, G) : s.target, i * G * G);
      });
      out.push({
        n, size: S,
        images: images.subarray(a * px, (a + n) * px),
        labels: Int32Array.from(part, (s) => s.label),
        predWeight: Float32Array.from(part, (s) => s.predWeight),
        attWeight: Float32Array.from(part, (s) => s.attWeight),
        targets,
        masks: withMasks ? this.masksOf(part) : null,
      });
    }
    return out;
  }

  /** The full-resolution positive masks of RES-L's imputation input, flipped with their images. */
  private masksOf(part: ShardSample[]): Float32Array {
    const S = this.config.inputSize;
    const out = new Float32Array(part.length * S * S);
    part.forEach((s, i) => {
      if (!s.fullMask) return;
      if (s.fullMask.length !== S * S) throw new GradiaInputError(s.path, `full-resolution mask has ${s.fullMask.length} values, expected ${S}x${S}`);
      const m = s.flip && !this.config.originalFlipBug ? flipMaskU8(s.fullMask, S, S) : s.fullMask;
      for (let k = 0; k < S * S; k++) out[i * S * S + k] = m[k]! > 0 ? 1 : 0;
    });
    return out;
  }

  async trainStep(req: WorkerStepRequest, setPhase: (p: string) => void = () => undefined): Promise<WorkerStepResult> {
    const t0 = now();
    let robustBytes = 0;
    const { samples } = req;
    const n = samples.length;
    const mbSize = req.microBatch ?? this.config.microBatch;
    setPhase('data');
    const loading = n ? this.loader.load(samples.map((s) => s.path), samples.map((s) => s.flip)) : Promise.resolve(new Float32Array(0));
    // Sampled once the step's decode tasks are submitted: work queued behind the pool threads.
    const dataQueueDepth = this.loader.queueDepth;
    const images = await loading;
    const t1 = now();
    setPhase('compute');
    const settings = this.objectiveSettings();
    const opts: GradOptions = {
      attentionWeight: this.config.attentionWeight, cam: this.config.camMode, freezeBn: Boolean(this.config.freezeBn),
      objective: { settings, imputation: this.imputation, robust: null },
    };
    const mbs = n ? this.buildMicroBatches(samples, images, mbSize) : [];
    // RES-G / RES-L: the threshold of the GLOBAL batch, from every replica's cams (the same
    // collectives on every replica: the condition depends only on the config and the norm)
    if (objectiveFor(settings.objective).robust && this.config.attentionWeight !== 0 && req.norm.globalAttCount > 0) {
      const r = await robustPass({
        model: this.model, ring: this.ring, rank: this.rank, world: this.world, microBatches: mbs, indices: samples.map((s) => s.index), grid: this.grid(),
        globalAttCount: req.norm.globalAttCount, eta: settings.eta, cam: this.config.camMode, freezeBn: this.config.freezeBn,
      });
      opts.objective!.robust = r.constants;
      robustBytes = r.bytesSent;
    }
    // Training-mode forward passes update the BN running buffers: kept to undo a non-finite step.
    const buffersBefore = this.config.freezeBn ? null : readBuffers(this.model);
    const syncBn = !this.config.freezeBn && this.world > 1;
    // [gradients | BN buffers x active | active]? | task loss sum | attention loss sum
    const lossAt = syncBn ? this.P + this.B + 1 : this.P;
    const vecLength = lossAt + 2;
    if (this.stepVec?.length !== vecLength) this.stepVec = new Float32Array(vecLength);
    const vec = this.stepVec;
    const g = n === 0
      ? { grads: vec.subarray(0, this.P).fill(0), taskLossSum: 0, attLossSum: 0, n: 0, nAtt: 0 }
      : computeGradients(this.model, mbs, req.norm, opts, vec.subarray(0, this.P));
    const t2 = now();
    await this.hooks.beforeAllReduce?.({ step: req.step, rank: this.rank });

    // One collective: [gradients | BN buffers (x active) | active | loss sums], the gradients
    // written in place above. Replicas that saw no sample this step do not count in the BN
    // average. The global loss sums let every replica reach the same verdict on non-finite values.
    setPhase('allReduce');
    if (syncBn) {
      const active = n > 0 ? 1 : 0;
      if (active) vec.set(readBuffers(this.model), this.P);
      else vec.fill(0, this.P, this.P + this.B);
      vec[this.P + this.B] = active;
    }
    vec[lossAt] = g.taskLossSum;
    vec[lossAt + 1] = g.attLossSum;
    const stats = await this.ring.allReduce(vec);
    const t3 = now();

    const result = (nonFinite?: string): WorkerStepResult => {
      const mem = tf.memory();
      const t4 = now();
      return {
        rank: this.rank,
        taskLossSum: g.taskLossSum, attLossSum: g.attLossSum, n: g.n, nAtt: g.nAtt,
        timings: { dataS: t1 - t0, computeS: t2 - t1, allReduceS: t3 - t2, allReduceWaitS: stats.waitSeconds, optimizerS: t4 - t3, totalS: t4 - t0 },
        allReduceBytes: stats.bytesSent + robustBytes,
        memory: { numTensors: mem.numTensors, numBytes: mem.numBytes },
        dataQueueDepth,
        ...(nonFinite ? { nonFinite } : {}),
      };
    };
    // The reduced vector is the same on every replica, so all of them stop here together,
    // before any weight or optimizer state changes.
    const lossProblem = [['task loss', vec[lossAt]!], ['attention loss', vec[lossAt + 1]!]].find(([, v]) => !Number.isFinite(v as number));
    const gradProblem = lossProblem ? null : findNonFinite(vec, paramLayout(this.model));
    if (lossProblem || gradProblem) {
      if (buffersBefore) writeBuffers(this.model, buffersBefore);
      return result(lossProblem ? `the ${lossProblem[0]} is ${nonFiniteKind(lossProblem[1] as number)}` : `the gradient of ${gradProblem!.tensor} holds ${gradProblem!.kind}`);
    }

    setPhase('optimizer');
    if (syncBn) {
      const activeCount = vec[this.P + this.B];
      if (activeCount > 0) {
        const bufs = new Float32Array(this.B);
        for (let i = 0; i < this.B; i++) bufs[i] = vec[this.P + i] / activeCount;
        for (const i of this.counterIdx) bufs[i] = Math.round(bufs[i]);
        writeBuffers(this.model, bufs);
      }
    }
    if (req.norm.globalBatch > 0) {
      adamStep(this.params, vec.subarray(0, this.P), this.adam, { lr: this.config.lr });
      // Finite gradients can still overflow the weights (a huge --lr): stop before they are used.
      const weightProblem = findNonFinite(this.params, paramLayout(this.model));
      if (weightProblem) {
        // The model's variables still hold the old weights; Adam's moments have moved on (the run stops).
        this.params = readParams(this.model);
        if (buffersBefore) writeBuffers(this.model, buffersBefore);
        return result(`the Adam step made ${weightProblem.tensor} ${weightProblem.kind}`);
      }
      writeParams(this.model, this.params);
    }
    return result();
  }

  async evaluate(samples: EvalShardSample[]): Promise<WorkerEvalResult> {
    const t0 = now();
    const S = this.config.inputSize;
    const G = this.grid();
    const C = this.config.numClasses;
    const n = samples.length;
    const pred = new Int32Array(n);
    const logits = new Float32Array(n * C);
    const cams = new Float32Array(n * G * G);
    const mb = Math.max(1, this.config.microBatch);
    for (let a = 0; a < n; a += mb) {
      const part = samples.slice(a, a + mb);
      const images = await this.loader.load(part.map((s) => s.path), part.map(() => false));
      const r = evaluateBatch(this.model, images, part.length, S, { microBatch: mb });
      pred.set(r.pred, a);
      logits.set(r.logits, a * C);
      cams.set(r.cams, a * G * G);
    }
    return { rank: this.rank, n, pred, logits, cams, seconds: now() - t0 };
  }

  getState(): ReplicaState {
    return {
      params: this.params.slice(),
      buffers: readBuffers(this.model),
      adam: { m: this.adam.m.slice(), v: this.adam.v.slice(), t: this.adam.t },
    };
  }

  /** Loads a state; returns the new weight checksum. */
  setState(state: ReplicaState): string {
    const bad = (what: string): never => { throw new GradiaInputError(null, `resume state: ${what}`); };
    if (state.params.length !== this.P) bad(`${state.params.length} parameters, the model has ${this.P}`);
    if (state.buffers.length !== this.B) bad(`${state.buffers.length} buffer values, the model has ${this.B}`);
    if (state.adam.m.length !== this.P || state.adam.v.length !== this.P) bad('optimizer moments do not match the parameters');
    this.params = Float32Array.from(state.params);
    writeParams(this.model, this.params);
    writeBuffers(this.model, Float32Array.from(state.buffers));
    this.adam = { m: Float32Array.from(state.adam.m), v: Float32Array.from(state.adam.v), t: state.adam.t };
    return this.checksum();
  }

  /** CRC-32 of the parameters and of the BN buffers (identical on all replicas after every step). */
  checksum(): string {
    const p = crc32(bytesOf(this.params)).toString(16).padStart(8, '0');
    const b = crc32(bytesOf(readBuffers(this.model))).toString(16).padStart(8, '0');
    return `${p}-${b}`;
  }

  async dispose(): Promise<void> {
    await this.loader.close();
    disposeModel(this.model);
  }
}
