// The optional Open MPI N-API addon (native/src/mpi/mpi_addon.cc, built by
// scripts/build-native.mjs when libopenmpi-dev is present) and its typed wrapper.
//
// Every call runs on the addon's own MPI thread and returns a promise: Node's event loop
// (timers, the metrics server, the watchdog) keeps running while a rank waits for its peers.
// Calls must be made in the same order on every rank, as with any MPI collective.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../util/paths.js';
import { DEFAULT_BUCKET_SIZE, type AllReducer, type AllReduceStats } from './ring.js';

/** Stats of one MPI operation on this rank: the ring's (payload bytes sent, wall and wait time, messages). */
export type MpiOpStats = AllReduceStats;

/** The addon's raw exports (see mpi_addon.cc). */
interface MpiAddon {
  init(): Promise<{ rank: number; size: number; host: string; library: string }>;
  allreduceSum(data: Float32Array, bucketSize?: number): Promise<MpiOpStats>;
  allreduceNative(data: Float32Array): Promise<MpiOpStats>;
  sendrecv(send: ArrayBufferView, recv: ArrayBufferView, peer: number): Promise<MpiOpStats>;
  barrier(): Promise<MpiOpStats>;
  allgather(bytes: Uint8Array): Promise<Uint8Array[]>;
  finalize(): Promise<void>;
  abort(code: number): void;
  arrivals(): number[];
  silences(): number[];
  lastPause(): { seconds: number; endedAgo: number };
}

export const MPI_INSTALL_HINT =
  'install Open MPI\'s development files (apt-get install libopenmpi-dev openmpi-bin) and build the addon with `node scripts/build-native.mjs` (or `npm ci`)';

/** Path of the addon: $GRADIA_MPI_ADDON, else native/mpi/build/Release/gradia_mpi.node. */
export function mpiAddonPath(): string {
  return process.env.GRADIA_MPI_ADDON || path.join(repoRoot, 'native', 'mpi', 'build', 'Release', 'gradia_mpi.node');
}

let cached: { addon: MpiAddon } | { error: string } | undefined;

/** Loads the addon once; returns it or a one-line reason it is unavailable. */
function loadMpiAddon(): { addon: MpiAddon } | { error: string } {
  if (cached) return cached;
  const file = mpiAddonPath();
  if (!fs.existsSync(file)) {
    cached = { error: `the Open MPI addon is not built (${file} is missing): ${MPI_INSTALL_HINT}` };
    return cached;
  }
  try {
    cached = { addon: createRequire(import.meta.url)(file) as MpiAddon };
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    cached = { error: `the Open MPI addon failed to load (${msg}): ${MPI_INSTALL_HINT}` };
  }
  return cached;
}

/** Is the addon built and loadable here? (the reason when not) */
export function mpiAvailable(): { ok: true } | { ok: false; reason: string } {
  const r = loadMpiAddon();
  return 'addon' in r ? { ok: true } : { ok: false, reason: r.error };
}

/**
 * MPI_COMM_WORLD of this process, once MPI is initialised. One per process: MPI can be
 * initialised once, so `Mpi.init()` returns the same object on every call.
 */
export class Mpi {
  private static instance: Promise<Mpi> | null = null;
  private finalized = false;

  private constructor(
    private readonly addon: MpiAddon,
    readonly rank: number,
    readonly size: number,
    /** MPI_Get_processor_name: the host as Open MPI names it. */
    readonly host: string,
    /** First line of MPI_Get_library_version, e.g. "Open MPI v4.1.4". */
    readonly library: string,
  ) {}

  /** Initialises MPI (MPI_THREAD_FUNNELED on the addon's thread); throws the install hint without the addon. */
  static init(): Promise<Mpi> {
    if (!Mpi.instance) {
      Mpi.instance = (async () => {
        const r = loadMpiAddon();
        if ('error' in r) throw new Error(r.error);
        // Open MPI 4.1 routes a rank's error messages (show_help) through PMIx_Log to mpirun,
        // and mpirun can crash handling them while a killed rank's job is torn down (a
        // segfault in pmix_server_log_fn, seen under load): then nobody names the dead rank.
        // Printed locally instead, they reach the terminal through mpirun's forwarding.
        process.env.OMPI_MCA_orte_base_help_aggregate ??= '0';
        const w = await r.addon.init();
        return new Mpi(r.addon, w.rank, w.size, w.host, w.library);
      })();
    }
    return Mpi.instance;
  }

  /**
   * Sums `data` over all ranks, in place, with the ring all-reduce's buckets and summation
   * order (src/comm/ring.ts): bitwise the single-machine cluster's result, on every rank.
   */
  allreduceSum(data: Float32Array, bucketSize?: number): Promise<MpiOpStats> {
    return this.addon.allreduceSum(data, bucketSize);
  }

  /** Open MPI's own MPI_Allreduce (MPI_Iallreduce, polled): its algorithm, its summation order. */
  allreduceNative(data: Float32Array): Promise<MpiOpStats> {
    return this.addon.allreduceNative(data);
  }

  /** Sends `send` to `peer` while receiving `recv.byteLength` bytes from it (a bandwidth baseline). */
  sendrecv(send: ArrayBufferView, recv: ArrayBufferView, peer: number): Promise<MpiOpStats> {
    return this.addon.sendrecv(send, recv, peer);
  }

  barrier(): Promise<MpiOpStats> {
    return this.addon.barrier();
  }

  /** Every rank's bytes, in rank order (lengths may differ). */
  allgather(bytes: Uint8Array): Promise<Uint8Array[]> {
    return this.addon.allgather(bytes);
  }

  /** allgather of a JSON value. */
  async allgatherJson<T>(value: T): Promise<T[]> {
    const parts = await this.allgather(new TextEncoder().encode(JSON.stringify(value)));
    const dec = new TextDecoder();
    return parts.map((p) => JSON.parse(dec.decode(p)) as T);
  }

  /**
   * For each rank, the sequence number (0, 1, ...) of the last collective (all-reduce,
   * allgather, barrier) it announced arriving at, as this rank has heard so far; -1 = none.
   */
  arrivals(): number[] {
    return this.addon.arrivals();
  }

  /**
   * For each rank, seconds since this rank last heard its heartbeat (sent every second by the
   * addon's MPI thread, whatever JS is doing): a stopped, hung or cut-off process falls silent.
   */
  silences(): number[] {
    return this.addon.silences();
  }

  /**
   * Was this process itself paused (SIGSTOP, a frozen VM) within the last `withinS` seconds?
   * Then the others' silence says nothing about them.
   */
  wasPaused(withinS: number): boolean {
    const p = this.addon.lastPause();
    return p.endedAgo >= 0 && p.endedAgo <= withinS;
  }

  /** MPI_Abort(MPI_COMM_WORLD, code): the launcher ends every rank. Does not return normally. */
  abort(code: number): void {
    this.addon.abort(code);
  }

  /** MPI_Finalize (idempotent); after it no MPI call may be made. */
  async finalize(): Promise<void> {
    if (this.finalized) return;
    this.finalized = true;
    await this.addon.finalize();
  }
}

/** An all-reducer over MPI with the ring's interface, for the replica (src/worker/replica.ts). */
export class MpiAllReducer implements AllReducer {
  constructor(
    private readonly mpi: Mpi,
    readonly bucketSize: number = DEFAULT_BUCKET_SIZE,
  ) {}

  allReduce(data: Float32Array): Promise<AllReduceStats> {
    return this.mpi.allreduceSum(data, this.bucketSize);
  }

  close(): void {
    // MPI is finalised once, by whoever owns the Mpi (the MPI cluster).
  }
}
