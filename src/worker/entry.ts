// Entry of one worker, as a worker thread (threads placement) or as a forked child
// process (processes / gpus placement). Exposes WorkerApi over comlink; the replica
// (tfjs, model, data pipeline) is loaded on init() only, so that communication-only uses
// (tests, benchmarks) stay light.
import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { parentProcessEndpoint, threadEndpoint } from '../comm/endpoint.js';
import { Ring, DEFAULT_BUCKET_SIZE, type AllReduceStats } from '../comm/ring.js';
import { PortLink, SocketLink, connectToPeer, listenForPeer } from '../comm/transport.js';
import type { Replica } from './replica.js';
import type {
  EvalShardSample, InitInfo, ReplicaConfig, ReplicaState, WorkerEvalResult, WorkerStepRequest, WorkerStepResult,
} from './types.js';

/** What the coordinator gives a worker when it starts it. */
export interface WorkerBoot {
  rank: number;
  world: number;
  runId: string;
  bucketSize?: number;
  /** Threads placement: the ring's ports (to rank + 1 and from rank - 1). */
  nextPort?: MessagePort;
  prevPort?: MessagePort;
}

export interface WorkerStatus { rank: number; phase: string; step: number; pid: number; cudaVisibleDevices: string | null }

const peerName = (rank: number): string => `worker ${rank}`;

export class WorkerApi {
  private ring: Ring | null = null;
  private replica: Replica | null = null;
  private phase = 'idle';
  private step = -1;
  private pendingAccept: ReturnType<typeof listenForPeer> | null = null;

  constructor(private readonly boot: WorkerBoot) {
    const { rank, world } = boot;
    if (world === 1) this.ring = new Ring(0, 1, null, null, boot.runId, boot.bucketSize ?? DEFAULT_BUCKET_SIZE);
    else if (boot.nextPort && boot.prevPort) {
      this.ring = new Ring(
        rank, world,
        { link: new PortLink(boot.nextPort, `link to ${peerName((rank + 1) % world)}`), peer: peerName((rank + 1) % world) },
        { link: new PortLink(boot.prevPort, `link from ${peerName((rank - 1 + world) % world)}`), peer: peerName((rank - 1 + world) % world) },
        boot.runId, boot.bucketSize ?? DEFAULT_BUCKET_SIZE,
      );
    }
  }

  status(): WorkerStatus {
    return { rank: this.boot.rank, phase: this.phase, step: this.step, pid: process.pid, cudaVisibleDevices: process.env.CUDA_VISIBLE_DEVICES ?? null };
  }

  /** Processes placement, phase 1: listen on this worker's socket (rank - 1 connects). */
  async listen(socketPath: string): Promise<void> {
    this.pendingAccept = listenForPeer(socketPath);
    await this.pendingAccept.ready;
  }

  /** Processes placement, phase 2: connect to rank + 1's socket and accept rank - 1. */
  async connect(nextSocketPath: string): Promise<void> {
    const { rank, world, runId } = this.boot;
    if (!this.pendingAccept) throw new Error('connect() before listen()');
    const next = await connectToPeer(nextSocketPath);
    const { socket: prev } = await this.pendingAccept.accepted;
    const n = (rank + 1) % world;
    const p = (rank - 1 + world) % world;
    this.ring = new Ring(
      rank, world,
      { link: new SocketLink(next, `link to ${peerName(n)}`), peer: peerName(n) },
      { link: new SocketLink(prev, `link from ${peerName(p)}`), peer: peerName(p) },
      runId, this.boot.bucketSize ?? DEFAULT_BUCKET_SIZE,
    );
  }

  private requireRing(): Ring {
    if (!this.ring) throw new Error(`worker ${this.boot.rank}: the ring is not connected`);
    return this.ring;
  }

  /** Sums `vec` over all workers (tests and benchmarks; training calls the ring itself). */
  async allReduce(vec: Float32Array): Promise<{ result: Float32Array; stats: AllReduceStats }> {
    this.phase = 'allReduce';
    const stats = await this.requireRing().allReduce(vec);
    this.phase = 'idle';
    return Comlink.transfer({ result: vec, stats }, isMainThread ? [] : [vec.buffer as ArrayBuffer]);
  }

  async init(config: ReplicaConfig): Promise<InitInfo> {
    this.phase = 'init';
    const { Replica } = await import('./replica.js');
    this.replica = await Replica.create(config, this.boot.rank, this.boot.world, this.requireRing());
    this.phase = 'idle';
    return this.replica.info();
  }

  private requireReplica(): Replica {
    if (!this.replica) throw new Error(`worker ${this.boot.rank}: init() was not called`);
    return this.replica;
  }

  async trainStep(req: WorkerStepRequest): Promise<WorkerStepResult> {
    this.step = req.step;
    const r = this.requireReplica();
    try {
      return await r.trainStep(req, (p) => { this.phase = p; });
    } finally {
      this.phase = 'idle';
    }
  }

  async evaluate(samples: EvalShardSample[]): Promise<WorkerEvalResult> {
    this.phase = 'evaluate';
    try {
      return await this.requireReplica().evaluate(samples);
    } finally {
      this.phase = 'idle';
    }
  }

  getState(): ReplicaState {
    const s = this.requireReplica().getState();
    // Fresh copies (3x the parameters): moved to the coordinator, not cloned, so the worker
    // holds no second copy until its next GC. A process's IPC copies anyway.
    return Comlink.transfer(s, isMainThread ? [] : [s.params, s.buffers, s.adam.m, s.adam.v].map((a) => a.buffer as ArrayBuffer));
  }

  setState(state: ReplicaState): string {
    return this.requireReplica().setState(state);
  }

  checksum(): string {
    return this.requireReplica().checksum();
  }

  async shutdown(): Promise<void> {
    this.ring?.close();
    await this.replica?.dispose();
  }
}

if (!isMainThread && parentPort) {
  Comlink.expose(new WorkerApi(workerData as WorkerBoot), threadEndpoint(parentPort));
} else if (process.send) {
  const boot = JSON.parse(process.env.GRADIA_WORKER_BOOT ?? 'null') as WorkerBoot | null;
  if (!boot) throw new Error('worker process started without GRADIA_WORKER_BOOT');
  Comlink.expose(new WorkerApi(boot), parentProcessEndpoint());
  // The coordinator is gone: nothing left to do.
  process.on('disconnect', () => process.exit(0));
}
