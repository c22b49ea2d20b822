// The cluster of an MPI job (`mpirun -np N gradia-dist train ...`): every rank is one
// process running the same run loop (src/coordinator/train.ts) with ONE local replica, built
// in this process, whose all-reduce goes through MPI (src/comm/mpi.ts) in the ring's buckets
// and summation order. It offers the run loop what the worker cluster offers (trainStep on the
// global batch's shards, evaluate, getState/setState, checkWeights): each rank takes its own
// shard, and the small per-rank results (loss sums, timings, evaluation outputs, checksums)
// are allgathered so that every rank reaches the same numbers and decisions as the
// single-machine cluster of the same size.
//
// Watchdog: every call is bounded by --step-timeout. When it fires, the addon's arrival
// record tells which ranks reached the collective this rank waits in and which did not; the
// error names them and the job must be aborted (MPI_Abort), since a stalled peer never returns.
import os from 'node:os';
import { MpiAllReducer, Mpi } from '../comm/mpi.js';
import { GradiaInputError } from '../util/errors.js';
import type { Replica } from '../worker/replica.js';
import type { InitInfo, ReplicaConfig, ReplicaState, WorkerStepResult } from '../worker/types.js';
import { ReplicaDivergenceError, stepMetricsOf, type ClusterStepRequest, type EvalSampleResult, type StepMetrics } from './cluster.js';
import { describeRank, SILENT_AFTER_S, stallVerdict } from './stall_verdict.js';

/** What every rank must agree on before training starts. */
export interface RankAgreement {
  /** datasetFingerprint of --data-dir. */
  dataset: string;
  /** The checkpoint this run starts from (phase 2's parent, or the resumed one); null: none. */
  checkpoint: string | null;
  /** The data dir and checkpoint file, for the message. */
  dataDir: string;
  checkpointFile: string | null;
}

export interface RankInfo {
  rank: number;
  host: string;
  pid: number;
  backend: string;
  /** CUDA_VISIBLE_DEVICES of the rank (its GPU) or null. */
  gpu: string | null;
}

/** A rank failed or stalled: the job cannot go on and must be aborted (MPI_Abort). */
export class RankFailedError extends Error {
  constructor(
    message: string,
    /** Should this rank print the message? (one rank speaks for the job; the others abort quietly) */
    readonly report: boolean,
  ) {
    super(message);
    this.name = 'RankFailedError';
  }
}

/** Every rank found the same problem at the start (e.g. a data set that differs): rank 0 says it, all exit. */
export class AgreedInputError extends GradiaInputError {
  constructor(file: string | null, problem: string, readonly report: boolean) {
    super(file, problem);
  }
}

export interface MpiClusterOptions {
  replica: ReplicaConfig;
  /** --step-timeout in ms: a call not finished by then names the ranks that did not arrive. */
  timeoutMs: number;
  checkEvery?: number;
  agreement: RankAgreement;
}

/** How long a fired watchdog waits for the MPI thread's next poll before judging. */
const PAUSE_SETTLE_MS = 250;

export class MpiCluster {
  info: InitInfo[] = [];
  private closed = false;

  private constructor(
    private readonly mpi: Mpi,
    private readonly replica: Replica,
    readonly ranks: RankInfo[],
    private readonly opts: MpiClusterOptions,
  ) {}

  get size(): number {
    return this.mpi.size;
  }

  get rank(): number {
    return this.mpi.rank;
  }

  /** The world, one line per rank: rank, host, pid, backend, GPU. */
  describeWorld(): string[] {
    return this.ranks.map((r) => `rank ${r.rank}: host ${r.host}, pid ${r.pid}, backend ${r.backend}${r.gpu !== null ? `, CUDA_VISIBLE_DEVICES=${r.gpu}` : ''}`);
  }

  /**
   * Runs `fn` (this rank's part, ending in a collective) under the step watchdog. On timeout
   * throws a RankFailedError naming the ranks that did not reach the collective.
   */
  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const ms = this.opts.timeoutMs;
    if (!(ms > 0)) return fn();
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      const set = performance.now();
      timer = setTimeout(() => {
        const lateS = (performance.now() - set - ms) / 1000;
        // A process continued after a stop runs this before its MPI thread (which polls every
        // few ms) has noted the pause: give it that moment before reading what it saw.
        timer = setTimeout(() => reject(this.stallError(what, ms, lateS)), PAUSE_SETTLE_MS);
      }, ms);
    });
    try {
      return await Promise.race([fn(), stalled]);
    } finally {
      clearTimeout(timer);
    }
  }

  private stallError(what: string, ms: number, lateS: number): RankFailedError {
    const v = stallVerdict({
      what, timeoutS: ms / 1000, lateS, rank: this.rank, ranks: this.ranks,
      arrivals: this.mpi.arrivals(), silences: this.mpi.silences(), pausedRecently: this.mpi.wasPaused(ms / 1000 + SILENT_AFTER_S),
    });
    return new RankFailedError(v.message, v.report);
  }

  /** Builds this rank's replica, checks the agreement, and learns the world (every rank calls it). */
  static async start(opts: MpiClusterOptions): Promise<MpiCluster> {
    const mpi = await Mpi.init();
    const { Replica } = await import('../worker/replica.js');
    const bucketSize = opts.replica.bucketSize;
    const replica = await Replica.create(opts.replica, mpi.rank, mpi.size, new MpiAllReducer(mpi, bucketSize));
    const info = replica.info();
    const mine = {
      rank: mpi.rank, host: mpi.host || os.hostname(), pid: process.pid, backend: info.backend,
      gpu: process.env.CUDA_VISIBLE_DEVICES ?? null, agreement: opts.agreement, info,
    };
    // Until the ranks have reported, the watchdog knows only this one (the others' hosts are unknown yet).
    const known = Array.from({ length: mpi.size }, (_, r): RankInfo => (r === mine.rank ? mine : { rank: r, host: 'not reported yet', pid: 0, backend: '', gpu: null }));
    const cluster = new MpiCluster(mpi, replica, known, opts);
    let all: (typeof mine)[];
    try {
      all = await cluster.guard('the start of the job (every rank reports its host, data set and checkpoint)', () => mpi.allgatherJson(mine));
    } catch (e) {
      await replica.dispose();
      throw e;
    }
    (cluster as { ranks: RankInfo[] }).ranks = all.map((a) => ({ rank: a.rank, host: a.host, pid: a.pid, backend: a.backend, gpu: a.gpu }));
    cluster.info = all.map((a) => a.info);
    try {
      cluster.checkAgreement(all.map((a) => a.agreement));
      cluster.compareChecksums(all.map((a) => a.info.checksum), 'after init');
    } catch (e) {
      await replica.dispose();
      throw e;
    }
    return cluster;
  }

  /** Same data set and checkpoint everywhere, else one line naming the host and what differs. */
  private checkAgreement(all: RankAgreement[]): void {
    const ref = all[0]!;
    const host = (r: number): string => `${this.ranks[r]!.host} (rank ${r})`;
    const report = this.rank === 0;
    for (let r = 1; r < all.length; r++) {
      const a = all[r]!;
      if (a.dataset !== ref.dataset) {
        throw new AgreedInputError(a.dataDir, `on host ${host(r)} the data set differs from the one on ${host(0)} (fingerprint ${a.dataset} vs ${ref.dataset}): every rank must see the same data`, report);
      }
      if (a.checkpoint !== ref.checkpoint) {
        const what = (id: string | null): string => (id === null ? 'none' : id);
        throw new AgreedInputError(a.checkpointFile ?? ref.checkpointFile, `on host ${host(r)} the checkpoint differs from the one on ${host(0)} (id ${what(a.checkpoint)} vs ${what(ref.checkpoint)}): every rank must start from the same checkpoint`, report);
      }
    }
  }

  private compareChecksums(sums: string[], when: string): string {
    if (sums.every((s) => s === sums[0])) return sums[0]!;
    const detail = sums.map((s, r) => `${describeRank(this.ranks[r]!)}: ${s}`).join(', ');
    throw new ReplicaDivergenceError(`replicas diverged ${when}: weight checksums differ (${detail})`);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the MPI cluster is closed');
  }

  /** This rank trains on shards[rank]; the step's sums come from every rank's share. */
  async trainStep(req: ClusterStepRequest): Promise<StepMetrics> {
    this.assertOpen();
    if (req.shards.length !== this.size) throw new Error(`trainStep: ${req.shards.length} shards for ${this.size} ranks`);
    const t0 = performance.now();
    const what = `step ${req.step + 1} (epoch ${(req.epoch ?? 0) + 1})`;
    const results = await this.guard(what, async () => {
      const own = await this.replica.trainStep({ step: req.step, epoch: req.epoch ?? 0, samples: req.shards[this.rank]!, norm: req.norm, microBatch: req.microBatch });
      return this.mpi.allgatherJson<WorkerStepResult>(own);
    });
    // Only this rank's share in `workers`: each rank exports its own worker's metrics (labelled rank, host).
    const m = stepMetricsOf(req, results, [results[this.rank]!], t0);
    const nonFinite = m.nonFinite;
    const every = this.opts.checkEvery ?? 0;
    if (!nonFinite && every > 0 && (req.step + 1) % every === 0) m.checksum = await this.checkWeights();
    return m;
  }

  /** This rank evaluates shards[rank]; every rank gets all results, in shard order. */
  async evaluate(shards: ReadonlyArray<ReadonlyArray<{ path: string; fileName: string; label: number }>>): Promise<EvalSampleResult[]> {
    this.assertOpen();
    if (shards.length !== this.size) throw new Error(`evaluate: ${shards.length} shards for ${this.size} ranks`);
    const mine = shards[this.rank]!.map((x) => ({ path: x.path, fileName: x.fileName, label: x.label }));
    const all = await this.guard('evaluation', async () => {
      const r = await this.replica.evaluate(mine);
      // float32 -> number -> JSON -> float32 is exact (JSON keeps a double's shortest round-trip form).
      return this.mpi.allgatherJson({ n: r.n, pred: Array.from(r.pred), logits: Array.from(r.logits), cams: Array.from(r.cams) });
    });
    const out: EvalSampleResult[] = [];
    for (const r of all) {
      const C = r.n ? r.logits.length / r.n : 0;
      const GG = r.n ? r.cams.length / r.n : 0;
      for (let i = 0; i < r.n; i++) {
        out.push({ pred: r.pred[i]!, logits: Float32Array.from(r.logits.slice(i * C, (i + 1) * C)), cam: Float32Array.from(r.cams.slice(i * GG, (i + 1) * GG)) });
      }
    }
    return out;
  }

  /** Compares every rank's weight checksum (a collective); throws ReplicaDivergenceError naming the ranks. */
  async checkWeights(): Promise<string> {
    this.assertOpen();
    const sums = await this.guard('the weight check', () => this.mpi.allgatherJson(this.replica.checksum()));
    return this.compareChecksums(sums, 'at the weight check');
  }

  /** This rank's state, after checking that every replica agrees (a collective: every rank calls it). */
  async getState(): Promise<ReplicaState> {
    await this.checkWeights();
    return this.replica.getState();
  }

  async setState(state: ReplicaState): Promise<void> {
    this.assertOpen();
    const sum = this.replica.setState(state);
    const sums = await this.guard('loading the checkpoint', () => this.mpi.allgatherJson(sum));
    this.compareChecksums(sums, 'after setState');
  }

  /** Disposes the replica; MPI stays up (finalised once, when the command ends). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.replica.dispose();
  }
}
