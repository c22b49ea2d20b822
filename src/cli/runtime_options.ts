import os from 'node:os';
import { backendUsesAllCores, type BackendRequest } from '../backend/select.js';
import { autoGpus, defaultWorkerCount, parseGpuList, systemGpuProbe, type GpuProbe, type Placement } from '../coordinator/placement.js';
import type { RuntimeConfig } from '../coordinator/train.js';
import type { ReplicaConfig } from '../worker/types.js';
import { DEFAULT_DECODE_CACHE_MB } from '../data/pipeline.js';
import type { RuntimeOptions } from '../config/run_spec.js';
import { GradiaInputError } from '../util/errors.js';

/** The options every command that runs replicas shares (RUNTIME_OPTIONS of the run spec). */
export type RuntimeFlags = Pick<RuntimeOptions, 'backend' | 'loaderThreads' | 'stepTimeout'> & Partial<Omit<RuntimeOptions, 'backend' | 'loaderThreads' | 'stepTimeout'>>;

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
  checkRuntimeFlags(flags);
  if (flags.gpus !== undefined) return { kind: 'gpus', ids: parseGpuList(flags.gpus) };
  if (flags.workers === undefined && !flags.processes && (flags.backend === 'auto' || flags.backend === 'tensorflow')) {
    const ids = autoGpus(probe);
    if (ids.length > 0) {
      log(`gradia-dist: using GPU${ids.length > 1 ? 's' : ''} ${ids.join(', ')} (tfjs-node-gpu is installed), one worker process each; --workers N trains on CPU instead`);
      return { kind: 'gpus', ids };
    }
  }
  const n = flags.workers ?? ((await backendUsesAllCores(flags.backend as BackendRequest)) ? 1 : Math.max(1, defaultWorkerCount()));
  return flags.processes ? { kind: 'processes', n } : { kind: 'threads', n };
}

/**
 * More CPU replicas, native threads or decoding threads than this per core only compete for
 * the cores and memory (each replica holds a whole model): a larger count is a typo.
 */
export const MAX_THREADS_PER_CORE = 4;

/** Node's timers overflow past 2^31-1 ms (about 24.8 days) and then fire at once. */
export const MAX_STEP_TIMEOUT_S = Math.floor((2 ** 31 - 1) / 1000);

/** Flag combinations and counts that cannot mean what the user wants: one line naming the flag. */
export function checkRuntimeFlags(flags: RuntimeFlags, cores = defaultWorkerCount()): void {
  const limit = MAX_THREADS_PER_CORE * Math.max(1, cores);
  const count = (flag: string, v: number | undefined, what: string) => {
    if (v === undefined) return;
    if (v < 1) throw new GradiaInputError(null, `${flag} must be at least 1 (got ${v})`);
    if (v > limit) throw new GradiaInputError(null, `${flag} ${v}: more than ${limit} ${what} (${MAX_THREADS_PER_CORE} per core on this ${cores}-core machine) would only compete for the cores and memory`);
  };
  if (flags.gpus !== undefined && (flags.workers !== undefined || flags.processes)) {
    throw new GradiaInputError(null, `${flags.workers !== undefined ? '--workers' : '--processes'} cannot be combined with --gpus: --gpus runs one worker process per GPU`);
  }
  count('--workers', flags.workers, 'CPU replicas');
  count('--threads', flags.threads, 'native threads per replica');
  count('-j/--loader-threads', flags.loaderThreads, 'image-decoding threads per replica');
  if (!(flags.stepTimeout > 0 && flags.stepTimeout <= MAX_STEP_TIMEOUT_S)) {
    throw new GradiaInputError(null, `--step-timeout must be more than 0 and at most ${MAX_STEP_TIMEOUT_S} seconds (about 24 days), got ${flags.stepTimeout}`);
  }
}

/**
 * Default decode cache per replica: DEFAULT_DECODE_CACHE_MB, but the replicas on this machine
 * together keep at most 1/8 of its memory (one per core on WASM would otherwise multiply 2 GiB
 * by the core count).
 */
export function defaultDecodeCacheBytes(replicasHere: number, totalMemBytes: number): number {
  return Math.min(DEFAULT_DECODE_CACHE_MB * 2 ** 20, Math.floor(totalMemBytes / 8 / Math.max(1, replicasHere)));
}

/** --decode-cache-mb in bytes, or the default for this many replicas on this machine. */
export function decodeCacheBytes(mb: number | undefined, replicasHere: number): number {
  if (mb === undefined) return defaultDecodeCacheBytes(replicasHere, os.totalmem());
  if (!(mb >= 0)) throw new GradiaInputError(null, `--decode-cache-mb must be 0 or more, got ${mb}`);
  return Math.floor(mb * 2 ** 20);
}

export async function runtimeFrom(flags: RuntimeFlags): Promise<RuntimeConfig> {
  const placement = await placementFrom(flags);
  return {
    backend: (placement.kind === 'gpus' ? 'tensorflow' : flags.backend) as ReplicaConfig['backend'],
    placement,
    loaderThreads: flags.loaderThreads,
    decodeCacheBytes: decodeCacheBytes(flags.decodeCacheMb, placement.kind === 'gpus' ? placement.ids.length : placement.n),
    threads: flags.threads ?? defaultThreads(placement.kind === 'gpus' ? 1 : placement.n),
    stepTimeoutS: flags.stepTimeout,
  };
}

/** Machine-readable results: one JSON line, the last of stdout. */
export function printJsonLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
