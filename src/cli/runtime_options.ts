import os from 'node:os';
import { backendUsesAllCores, type BackendRequest } from '../backend/select.js';
import { autoGpus, defaultWorkerCount, parseGpuList, systemGpuProbe, type GpuProbe, type Placement } from '../coordinator/placement.js';
import type { RuntimeConfig } from '../coordinator/train.js';
import type { ReplicaConfig } from '../worker/types.js';
import { DEFAULT_DECODE_CACHE_MB } from '../data/pipeline.js';
import { GradiaInputError } from '../util/errors.js';

/** The options every command that runs replicas shares (see addRuntimeOptions). */
export interface RuntimeFlags {
  backend: string;
  gpus?: string;
  workers?: number;
  processes?: boolean;
  loaderThreads: number;
  /** decode cache per replica, MiB (default DEFAULT_DECODE_CACHE_MB) */
  decodeCacheMb?: number;
  threads?: number;
  stepTimeout: number;
}

/** Default native threads per replica: the cores shared out between the replicas on this machine. */
export function defaultThreads(replicasHere: number): number {
  return Math.max(1, Math.floor(defaultWorkerCount() / Math.max(1, replicasHere)));
}

/**
 * --gpus 0,1 -> one process per GPU; --processes -> CPU worker processes; else threads.
 * With none of --gpus / --workers / --processes, the same command uses every GPU of the machine
 * when tfjs-node-gpu is installed (see autoGpus), and CPU workers otherwise.
 * Default CPU replicas: one per core on WASM / pure JS, one using every core on a native
 * multi-threaded backend (oneDNN, libtensorflow), whichever bench/onednn_cluster.ts showed faster.
 */
export async function placementFrom(flags: RuntimeFlags, probe: GpuProbe = systemGpuProbe, log: (line: string) => void = (l) => console.error(l)): Promise<Placement> {
  if (flags.gpus !== undefined) return { kind: 'gpus', ids: parseGpuList(flags.gpus) };
  if (flags.workers === undefined && !flags.processes && (flags.backend === 'auto' || flags.backend === 'tensorflow')) {
    const ids = autoGpus(probe);
    if (ids.length > 0) {
      log(`gradia-dist: using GPU${ids.length > 1 ? 's' : ''} ${ids.join(', ')} (tfjs-node-gpu is installed), one worker process each; --workers N trains on CPU instead`);
      return { kind: 'gpus', ids };
    }
  }
  const n = Math.max(1, flags.workers ?? (await backendUsesAllCores(flags.backend as BackendRequest) ? 1 : defaultWorkerCount()));
  return flags.processes ? { kind: 'processes', n } : { kind: 'threads', n };
}

/**
 * Default decode cache per replica: DEFAULT_DECODE_CACHE_MB, but the replicas on this machine
 * together keep at most 1/8 of its memory (one per core on WASM would otherwise multiply 2 GiB
 * by the core count).
 */
export function defaultDecodeCacheBytes(replicasHere: number, totalMemBytes: number): number {
  return Math.min(DEFAULT_DECODE_CACHE_MB * 2 ** 20, Math.floor(totalMemBytes / 8 / Math.max(1, replicasHere)));
}

function decodeCacheBytes(mb: number | undefined, replicasHere: number): number {
  if (mb === undefined) return defaultDecodeCacheBytes(replicasHere, os.totalmem());
  if (!(mb >= 0)) throw new GradiaInputError(null, `--decode-cache-mb must be 0 or more, got ${mb}`);
  return Math.floor(mb * 2 ** 20);
}

export async function runtimeFrom(flags: RuntimeFlags): Promise<RuntimeConfig> {
  const placement = await placementFrom(flags);
  return {
    backend: (placement.kind === 'gpus' ? 'tensorflow' : flags.backend) as ReplicaConfig['backend'],
    placement,
    loaderThreads: Math.max(1, flags.loaderThreads),
    decodeCacheBytes: decodeCacheBytes(flags.decodeCacheMb, placement.kind === 'gpus' ? placement.ids.length : placement.n),
    threads: flags.threads ? Math.max(1, flags.threads) : defaultThreads(placement.kind === 'gpus' ? 1 : placement.n),
    stepTimeoutS: flags.stepTimeout,
  };
}

/** Machine-readable results: one JSON line, the last of stdout. */
export function printJsonLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
