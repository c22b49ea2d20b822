// The worker cluster: starts one replica per worker (threads, processes or one process
// per GPU), wires the all-reduce ring between them, and drives them over comlink RPC.
// Any worker failure (exit, thrown error, no answer within the timeout) fails the call
// with an error naming the worker and the cause, and closes the whole cluster.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { childProcessEndpoint, threadEndpoint } from '../comm/endpoint.js';
import type { AllReduceStats } from '../comm/ring.js';
import { GradiaInputError } from '../util/errors.js';
import { compiledEntry } from '../util/paths.js';
import type { WorkerApi, WorkerBoot, WorkerStatus } from '../worker/entry.js';
export type { WorkerStatus } from '../worker/entry.js';
import type {
  EvalShardSample, InitInfo, Normaliser, ReplicaConfig, ReplicaState, ShardSample, WorkerStepResult,
} from '../worker/types.js';
import { placementSize, validatePlacement, type GpuProbe, type Placement } from './placement.js';

export type { Placement } from './placement.js';
export type { ReplicaConfig, ReplicaState, ShardSample, EvalShardSample, Normaliser, WorkerStepResult } from '../worker/types.js';

export interface ClusterOptions {
  placement: Placement;
  /** The replica to build on every worker; null starts communication-only workers (tests, benchmarks). */
  replica: ReplicaConfig | null;
  /** A worker that has not answered an RPC within this many ms fails it (default: 30 min; 0 = never). */
  timeoutMs?: number;
  /** Compare the replicas' weight checksums every N steps (0 = only when checkWeights() is called). */
  checkEvery?: number;
  /** Per-step metrics callback (also emitted as the 'step' event). */
  onStep?: (m: StepMetrics) => void;
  /** Run id carried in every gradient chunk (default: random). */
  runId?: string;
  bucketSize?: number;
  /** For tests: replaces the GPU probe used to validate gpus placements. */
  gpuProbe?: GpuProbe;
}

export interface ClusterStepRequest {
  step: number;
  /** For metrics only (flips are decided by the coordinator, see shardSamples). */
  epoch?: number;
  /** shards[r] = worker r's samples of this global batch (may be empty). */
  shards: ShardSample[][];
  norm: Normaliser;
  microBatch?: number;
}

export interface StepMetrics {
  step: number;
  epoch: number;
  /** Sums over workers. */
  taskLossSum: number;
  attLossSum: number;
  n: number;
  nAtt: number;
  /** Wall time of the whole step seen by the coordinator. */
  seconds: number;
  /** Encoded all-reduce bytes sent by all workers together. */
  allReduceBytes: number;
  workers: WorkerStepResult[];
  /** Set when the replicas' checksums were compared after this step. */
  checksum?: string;
  /** What was non-finite (every replica found the same); the step changed nothing and the run must stop. */
  nonFinite?: string;
}

export type ClusterStepResult = StepMetrics;

/**
 * One step's metrics from every replica's result, summed in rank order (any cluster kind
 * sums alike); `workers` are the per-worker results this process reports.
 */
export function stepMetricsOf(req: ClusterStepRequest, results: WorkerStepResult[], workers: WorkerStepResult[], t0: number): StepMetrics {
  const m: StepMetrics = {
    step: req.step,
    epoch: req.epoch ?? 0,
    taskLossSum: results.reduce((s, r) => s + r.taskLossSum, 0),
    attLossSum: results.reduce((s, r) => s + r.attLossSum, 0),
    n: results.reduce((s, r) => s + r.n, 0),
    nAtt: results.reduce((s, r) => s + r.nAtt, 0),
    seconds: (performance.now() - t0) / 1000,
    allReduceBytes: results.reduce((s, r) => s + r.allReduceBytes, 0),
    workers,
  };
  const nonFinite = results.find((r) => r.nonFinite)?.nonFinite;
  if (nonFinite) m.nonFinite = nonFinite;
  return m;
}

export interface EvalSampleResult {
  pred: number;
  logits: Float32Array;
  /** G*G raw Grad-CAM of the predicted class, row-major [y][x]. */
  cam: Float32Array;
}

/**
 * A worker failed: names the worker and the cause (`reason`: it exited, its thread
 * errored, it did not answer in time, or the call threw inside it). The run loop may
 * restart the cluster from a checkpoint on this error.
 */
export class WorkerFailedError extends Error {
  constructor(
    readonly rank: number,
    readonly worker: string,
    readonly reason: 'exit' | 'error' | 'timeout' | 'remote',
    message: string,
    /** For 'remote': the error's name and message inside the worker. */
    readonly remote?: { name: string; message: string },
  ) {
    super(message);
    this.name = 'WorkerFailedError';
  }
}

/** The replicas' weights are no longer identical. */
export class ReplicaDivergenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplicaDivergenceError';
  }
}

interface Handle {
  rank: number;
  name: string;
  api: Comlink.Remote<WorkerApi>;
  /** Rejects with a WorkerFailedError when the worker exits or errors. */
  dead: Promise<never>;
  /** Calls back on the worker's death (at once if it is dead); returns the unsubscribe. */
  onDeath: (cb: (e: WorkerFailedError) => void) => () => void;
  exited: boolean;
  terminate(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** How long a worker process's IPC error waits for its exit event (which names the signal). */
const PROCESS_EXIT_GRACE_MS = 1000;

/** An all-reduce failure caused by the peer (its link closed, or it sent garbage). */
const isLinkError = (e: WorkerFailedError): boolean => e.reason === 'remote' && /all-reduce on rank \d+: (receiving from|unexpected chunk from)/.test(e.message);

/**
 * One shared reaction on a worker's `dead` promise. Racing every call against `dead` itself
 * leaked: each Promise.race adds a reaction to `dead` that lives as long as the worker and
 * keeps that race's promise, and so the call's result, reachable (nodejs/node#17469). The
 * coordinator kept every result ever returned, a getState() copy of params + Adam m, v per
 * epoch among them: ~130 MiB per epoch for ResNet-18.
 */
function deathNotifier(dead: Promise<never>): Handle['onDeath'] {
  const waiting = new Set<(e: WorkerFailedError) => void>();
  let error: WorkerFailedError | null = null;
  dead.catch((e: WorkerFailedError) => {
    error = e;
    for (const cb of waiting) cb(e);
    waiting.clear();
  });
  return (cb) => {
    if (error) {
      cb(error);
      return () => undefined;
    }
    waiting.add(cb);
    return () => { waiting.delete(cb); };
  };
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `was killed by ${signal}`;
  return `exited with code ${code}`;
}

function startThread(rank: number, boot: WorkerBoot, transfer: MessagePort[]): Handle {
  const w = new Worker(compiledEntry('worker/entry'), { workerData: boot, transferList: transfer });
  const name = `worker ${rank} (thread ${w.threadId})`;
  let exited = false;
  const dead = new Promise<never>((_, reject) => {
    w.once('error', (e) => reject(new WorkerFailedError(rank, name, 'error', `${name} crashed: ${e.message}`)));
    w.once('exit', (code) => {
      exited = true;
      reject(new WorkerFailedError(rank, name, 'exit', `${name} ${describeExit(code, null)}`));
    });
  });
  dead.catch(() => undefined);
  const h: Handle = {
    rank, name, dead, onDeath: deathNotifier(dead), api: Comlink.wrap<WorkerApi>(threadEndpoint(w)),
    get exited() { return exited; },
    async terminate() { if (!exited) await w.terminate(); },
  };
  return h;
}

function startProcess(rank: number, boot: WorkerBoot, env: NodeJS.ProcessEnv, label: string): Handle {
  const child: ChildProcess = fork(compiledEntry('worker/entry'), [], {
    serialization: 'advanced',
    env: { ...env, GRADIA_WORKER_BOOT: JSON.stringify(boot) },
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const name = `worker ${rank} (pid ${child.pid}${label})`;
  let exited = false;
  const dead = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => {
      exited = true;
      reject(new WorkerFailedError(rank, name, 'exit', `${name} ${describeExit(code, signal)}`));
    });
    // A message sent to a process that just died fails with EPIPE before its 'exit' event
    // arrives: wait briefly for the exit, whose code or signal is the real cause.
    child.once('error', (e) => {
      const exitedMeanwhile = new Promise<void>((r) => child.once('exit', () => r()));
      void Promise.race([exitedMeanwhile, sleep(PROCESS_EXIT_GRACE_MS)]).then(() => {
        if (!exited) reject(new WorkerFailedError(rank, name, 'error', `${name} failed: ${e.message}`));
      });
    });
  });
  dead.catch(() => undefined);
  const h: Handle = {
    rank, name, dead, onDeath: deathNotifier(dead), api: Comlink.wrap<WorkerApi>(childProcessEndpoint(child)),
    get exited() { return exited; },
    async terminate() {
      if (exited) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 2000);
      await gone;
      clearTimeout(t);
    },
  };
  return h;
}

export class Cluster extends EventEmitter {
  private closed = false;
  private failure: Error | null = null;
  private lastChecksum: string | null = null;
  info: InitInfo[] = [];

  constructor(
    private readonly workers: Handle[],
    readonly runId: string,
    readonly placement: Placement,
    private readonly opts: ClusterOptions,
    private readonly socketDir: string | null,
  ) {
    super();
    if (opts.onStep) this.on('step', opts.onStep);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Names of the workers (for messages and metrics labels). */
  get workerNames(): string[] {
    return this.workers.map((w) => w.name);
  }

  private get timeoutMs(): number {
    return this.opts.timeoutMs ?? 30 * 60_000;
  }

  /** Calls `fn` on one worker, failing on its death or the timeout. */
  private async call<T>(h: Handle, what: string, fn: (api: Comlink.Remote<WorkerApi>) => Promise<T>, timeoutMs = this.timeoutMs): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = timeoutMs > 0
      ? new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new WorkerFailedError(h.rank, h.name, 'timeout', `${h.name} did not answer ${what} within ${timeoutMs / 1000} s`)), timeoutMs);
      })
      : new Promise<never>(() => undefined);
    let unsubscribe = (): void => undefined;
    const died = new Promise<never>((_, reject) => { unsubscribe = h.onDeath(reject); });
    try {
      return await Promise.race([fn(h.api), died, timeout]);
    } catch (e) {
      if (e instanceof WorkerFailedError) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      const name = e instanceof Error ? e.name : 'Error';
      throw new WorkerFailedError(h.rank, h.name, 'remote', `${h.name} failed in ${what}: ${msg}`, { name, message: msg });
    } finally {
      unsubscribe();
      if (timer) clearTimeout(timer);
    }
  }

  /**
   * Runs `fn` on every worker. On the first failure waits briefly for the others, picks
   * the root cause (a dead or silent worker before the all-reduce errors it causes in its
   * peers), closes the cluster and throws.
   */
  private async all<T>(what: string, fn: (api: Comlink.Remote<WorkerApi>, rank: number) => Promise<T>, timeoutMs = this.timeoutMs): Promise<T[]> {
    this.assertOpen();
    const calls = this.workers.map((h) => this.call(h, what, (api) => fn(api, h.rank), timeoutMs));
    try {
      return await Promise.all(calls);
    } catch (first) {
      // A crash is seen by its peers as a link error, possibly before the crash itself is
      // reported: then let the other workers' outcomes arrive before naming the culprit.
      if (first instanceof WorkerFailedError && isLinkError(first)) await Promise.race([Promise.allSettled(calls), sleep(1500)]);
      const errors: WorkerFailedError[] = [];
      for (const c of calls) {
        const r = await Promise.race([c.then(() => null, (e: unknown) => e), sleep(0).then(() => null)]);
        if (r instanceof WorkerFailedError) errors.push(r);
      }
      for (const h of this.workers) {
        if (h.exited && !errors.some((e) => e.rank === h.rank)) errors.push(await h.dead.catch((e: WorkerFailedError) => e));
      }
      const rank = (e: WorkerFailedError): number => {
        if (e.reason === 'exit' || e.reason === 'error') return 0;
        if (e.reason === 'remote' && !isLinkError(e)) return 1;
        if (e.reason === 'timeout') return 2;
        return 3;
      };
      errors.sort((a, b) => rank(a) - rank(b) || a.rank - b.rank);
      let primary: Error = errors[0] ?? (first as Error);
      if (primary instanceof WorkerFailedError && primary.reason === 'timeout') {
        primary = await this.explainTimeout(primary, what, timeoutMs);
      }
      await this.fail(primary);
      // Bad user input found by a worker (an unreadable image, a bad weights file, the WASM
      // heap limit) is reported as the one-line input error, not as a worker fault.
      if (primary instanceof WorkerFailedError && primary.remote?.name === 'GradiaInputError') {
        throw new GradiaInputError(null, primary.remote.message);
      }
      throw primary;
    }
  }

  /** After a timeout: ask every worker what it is doing; name the ones that do not answer. */
  private async explainTimeout(e: WorkerFailedError, what: string, timeoutMs: number): Promise<Error> {
    const probes = await Promise.all(this.workers.map(async (h) => {
      try {
        return { h, s: await this.call(h, 'status', (api) => api.status() as Promise<WorkerStatus>, 2000) };
      } catch {
        return { h, s: null };
      }
    }));
    const silent = probes.filter((p) => !p.s);
    if (silent.length) {
      const names = silent.map((p) => p.h.name).join(', ');
      return new WorkerFailedError(silent[0].h.rank, names, 'timeout', `${names} stopped answering (${what} not finished within ${timeoutMs / 1000} s; a status probe got no answer either)`);
    }
    const phases = probes.map((p) => `${p.h.name}: ${p.s!.phase}`).join('; ');
    return new WorkerFailedError(e.rank, e.worker, 'timeout', `${what} did not finish within ${timeoutMs / 1000} s (${phases})`);
  }

  private assertOpen(): void {
    if (this.failure) throw new Error(`the cluster has failed and was closed: ${this.failure.message}`);
    if (this.closed) throw new Error('the cluster is closed');
  }

  private async fail(e: Error): Promise<void> {
    if (!this.failure) this.failure = e;
    this.emit('failure', e);
    await this.close();
  }

  /** Builds the replicas (called by startCluster). */
  async init(config: ReplicaConfig): Promise<InitInfo[]> {
    // Building a replica (backend start, model, pipeline) may take longer than a step
    // timeout tuned for training: allow at least 5 minutes.
    const t = this.timeoutMs > 0 ? Math.max(this.timeoutMs, 300_000) : 0;
    this.info = await this.all('init', (api) => api.init(config), t);
    this.lastChecksum = this.compareChecksums(this.info.map((i) => i.checksum), 'after init');
    return this.info;
  }

  /**
   * One synchronous data-parallel step: each worker computes gradients on its shard, the
   * ring sums them, BN buffers are averaged, and every replica applies the same Adam step.
   */
  async trainStep(req: ClusterStepRequest): Promise<ClusterStepResult> {
    if (req.shards.length !== this.size) throw new Error(`trainStep: ${req.shards.length} shards for ${this.size} workers`);
    const t0 = performance.now();
    const results = await this.all(`trainStep (step ${req.step})`, (api, r) =>
      api.trainStep({ step: req.step, epoch: req.epoch ?? 0, samples: req.shards[r], norm: req.norm, microBatch: req.microBatch }));
    const m = stepMetricsOf(req, results, results, t0);
    const nonFinite = m.nonFinite;
    const every = this.opts.checkEvery ?? 0;
    if (!nonFinite && every > 0 && (req.step + 1) % every === 0) m.checksum = await this.checkWeights();
    this.emit('step', m);
    return m;
  }

  /**
   * Evaluates shards[r] on worker r (eval mode); returns one result per sample, in the
   * order of the shards concatenated.
   */
  async evaluate(shards: ReadonlyArray<ReadonlyArray<{ path: string; fileName: string; label: number }>>): Promise<EvalSampleResult[]> {
    if (shards.length !== this.size) throw new Error(`evaluate: ${shards.length} shards for ${this.size} workers`);
    // Only what the worker needs crosses over (not the human maps).
    const slim: EvalShardSample[][] = shards.map((s) => s.map((x) => ({ path: x.path, fileName: x.fileName, label: x.label })));
    const res = await this.all('evaluate', (api, r) => api.evaluate(slim[r]));
    const out: EvalSampleResult[] = [];
    for (const r of res) {
      const C = r.n ? r.logits.length / r.n : 0;
      const GG = r.n ? r.cams.length / r.n : 0;
      for (let i = 0; i < r.n; i++) {
        out.push({ pred: r.pred[i], logits: r.logits.slice(i * C, (i + 1) * C), cam: r.cams.slice(i * GG, (i + 1) * GG) });
      }
    }
    return out;
  }

  /** Compares the replicas' weight checksums; throws ReplicaDivergenceError if they differ. */
  async checkWeights(): Promise<string> {
    const sums = await this.all('checksum', (api) => api.checksum());
    this.lastChecksum = this.compareChecksums(sums, 'at the weight check');
    return this.lastChecksum;
  }

  private compareChecksums(sums: string[], when: string): string {
    if (sums.every((s) => s === sums[0])) return sums[0];
    const detail = sums.map((s, r) => `${this.workers[r].name}: ${s}`).join(', ');
    const e = new ReplicaDivergenceError(`replicas diverged ${when}: weight checksums differ (${detail})`);
    void this.fail(e);
    throw e;
  }

  /** The replicas' state (from worker 0, after checking that all replicas agree). */
  async getState(): Promise<ReplicaState> {
    await this.checkWeights();
    const [h] = this.workers;
    return this.call(h, 'getState', (api) => api.getState() as Promise<ReplicaState>);
  }

  /** Loads a state into every replica (resume). */
  async setState(state: ReplicaState): Promise<void> {
    const sums = await this.all('setState', (api) => api.setState(state));
    this.lastChecksum = this.compareChecksums(sums, 'after setState');
  }

  /** Sums a vector over the workers: worker r contributes vectors[r]; returns each worker's result. */
  async allReduce(vectors: Float32Array[]): Promise<{ results: Float32Array[]; stats: AllReduceStats[] }> {
    const res = await this.all('allReduce', (api, r) => api.allReduce(vectors[r]));
    return { results: res.map((r) => r.result), stats: res.map((r) => r.stats) };
  }

  /** What every worker is doing (phase, step, pid, CUDA_VISIBLE_DEVICES). */
  async status(): Promise<WorkerStatus[]> {
    return this.all('status', (api) => api.status() as Promise<WorkerStatus>, 10_000);
  }

  /** Worker pids / thread ids, for tests that need to kill one. */
  worker(rank: number): { name: string; terminate(): Promise<void> } {
    const h = this.workers[rank];
    return { name: h.name, terminate: () => h.terminate() };
  }

  /** Stops every worker (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map(async (h) => {
      if (h.exited) return;
      try {
        await Promise.race([h.api.shutdown(), h.dead, sleep(1000)]);
      } catch { /* already gone */ }
      await h.terminate().catch(() => undefined);
    }));
    if (this.socketDir) fs.rmSync(this.socketDir, { recursive: true, force: true });
    this.emit('close');
  }
}

/**
 * Starts the workers for `placement`, connects the ring, and (unless `replica` is null)
 * builds every replica from the same config. Validates the placement first: for gpus a
 * missing GPU backend or an unknown id throws before any worker starts.
 */
export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const { placement } = opts;
  validatePlacement(placement, opts.gpuProbe);
  const n = placementSize(placement);
  const runId = opts.runId ?? randomBytes(8).toString('hex');
  const bucketSize = opts.bucketSize ?? opts.replica?.bucketSize;
  const workers: Handle[] = [];
  let socketDir: string | null = null;
  let cluster: Cluster;
  if (placement.kind === 'threads') {
    // channel r carries rank r -> rank r + 1
    const channels = n > 1 ? Array.from({ length: n }, () => new MessageChannel()) : [];
    for (let r = 0; r < n; r++) {
      const boot: WorkerBoot = { rank: r, world: n, runId, bucketSize };
      const transfer: MessagePort[] = [];
      if (n > 1) {
        boot.nextPort = channels[r].port1;
        boot.prevPort = channels[(r - 1 + n) % n].port2;
        transfer.push(boot.nextPort, boot.prevPort);
      }
      workers.push(startThread(r, boot, transfer));
    }
    cluster = new Cluster(workers, runId, placement, opts, null);
  } else {
    socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-ring-'));
    for (let r = 0; r < n; r++) {
      const boot: WorkerBoot = { rank: r, world: n, runId, bucketSize };
      const env = { ...process.env };
      let label = '';
      if (placement.kind === 'gpus') {
        env.CUDA_VISIBLE_DEVICES = String(placement.ids[r]);
        label = `, GPU ${placement.ids[r]}`;
      }
      workers.push(startProcess(r, boot, env, label));
    }
    cluster = new Cluster(workers, runId, placement, opts, socketDir);
    if (n > 1) {
      const sock = (r: number): string => path.join(socketDir!, `w${r}.sock`);
      await cluster['all']('listen', (api, r) => api.listen(sock(r)));
      await cluster['all']('connect', (api, r) => api.connect(sock((r + 1) % n)));
    }
  }
  if (opts.replica) {
    const config: ReplicaConfig = placement.kind === 'gpus' ? { ...opts.replica, backend: 'tensorflow' } : opts.replica;
    await cluster.init(config);
  }
  return cluster;
}
