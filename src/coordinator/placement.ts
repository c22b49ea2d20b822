// Where workers run: threads (WASM/cpu), processes (the GPU path's transport without a
// GPU), or one process per GPU with CUDA_VISIBLE_DEVICES and the tensorflow backend.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import { GradiaInputError } from '../util/errors.js';

export type Placement =
  | { kind: 'threads'; n: number }
  | { kind: 'processes'; n: number }
  | { kind: 'gpus'; ids: number[] }
  /** One rank of an MPI job (mpirun / srun): n ranks in all, one replica each (src/coordinator/mpi_cluster.ts). */
  | { kind: 'mpi'; n: number; rank: number };

/** Default `--workers`: the number of cores. */
export function defaultWorkerCount(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

export function placementSize(p: Placement): number {
  return p.kind === 'gpus' ? p.ids.length : p.n;
}

/** Parses `--gpus 0,1` into ids (syntax only; see validateGpus for existence). */
export function parseGpuList(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (parts.length === 0) throw new GradiaInputError(null, `--gpus: expected a comma-separated list of GPU ids such as 0,1 (got '${text}')`);
  const ids = parts.map((s) => {
    if (!/^\d+$/.test(s)) throw new GradiaInputError(null, `--gpus: '${s}' is not a GPU id (expected non-negative integers such as 0,1)`);
    return Number(s);
  });
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup !== undefined) throw new GradiaInputError(null, `--gpus: GPU ${dup} is listed twice`);
  return ids;
}

export interface GpuProbe {
  /** Is a GPU-capable tfjs backend installed? (resolves @tensorflow/tfjs-node-gpu) */
  gpuBackendInstalled(): boolean;
  /** The GPU ids the driver reports, or an error message when they cannot be listed. */
  listGpus(): number[] | { error: string };
}

export const systemGpuProbe: GpuProbe = {
  gpuBackendInstalled(): boolean {
    try {
      createRequire(import.meta.url).resolve('@tensorflow/tfjs-node-gpu');
      return true;
    } catch {
      return false;
    }
  },
  listGpus(): number[] | { error: string } {
    let out: string;
    try {
      out = execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: string };
      if (err.code === 'ENOENT') return { error: 'nvidia-smi was not found (no NVIDIA driver on this machine?)' };
      return { error: `nvidia-smi -L failed: ${(err.stderr || err.message).toString().trim().split('\n')[0]}` };
    }
    const ids: number[] = [];
    for (const line of out.split('\n')) {
      const m = /^GPU (\d+):/.exec(line.trim());
      if (m) ids.push(Number(m[1]));
    }
    return ids;
  },
};

/**
 * Checks `--gpus` before anything starts: a GPU backend must be installed and every id
 * must exist. Throws one GradiaInputError line otherwise.
 */
export function validateGpus(ids: number[], probe: GpuProbe = systemGpuProbe): void {
  if (ids.length === 0) throw new GradiaInputError(null, '--gpus: no GPU ids given');
  if (!probe.gpuBackendInstalled()) {
    throw new GradiaInputError(null, '--gpus: no GPU backend is installed (@tensorflow/tfjs-node-gpu is missing; install it on a machine with CUDA, or use --workers N to train on CPU workers)');
  }
  const have = probe.listGpus();
  if (!Array.isArray(have)) throw new GradiaInputError(null, `--gpus: cannot list this machine's GPUs: ${have.error}`);
  const missing = ids.filter((id) => !have.includes(id));
  if (missing.length) {
    const list = have.length ? `this machine has GPU${have.length > 1 ? 's' : ''} ${have.join(', ')}` : 'this machine has no GPU';
    throw new GradiaInputError(null, `--gpus: GPU ${missing.join(', ')} does not exist (${list})`);
  }
}

/**
 * The GPUs a run without --gpus / --workers should use: every GPU the driver lists (limited to
 * CUDA_VISIBLE_DEVICES when that holds plain ids), when tfjs-node-gpu is installed; else [] (CPU
 * workers). Never throws: a machine whose GPUs cannot be listed simply trains on CPU.
 */
export function autoGpus(probe: GpuProbe = systemGpuProbe, env: NodeJS.ProcessEnv = process.env): number[] {
  if (!probe.gpuBackendInstalled()) return [];
  const visible = env.CUDA_VISIBLE_DEVICES;
  if (visible !== undefined && visible.trim() === '') return []; // CUDA's own "no GPU"
  const have = probe.listGpus();
  if (!Array.isArray(have)) return [];
  if (visible === undefined) return have;
  const ids = visible.split(',').map((s) => s.trim());
  // UUIDs or MIG names cannot be mapped to driver indices: no per-GPU processes then; the one
  // default worker's tfjs-node-gpu still sees exactly the devices CUDA_VISIBLE_DEVICES names
  if (!ids.every((s) => /^\d+$/.test(s))) return [];
  return ids.map(Number).filter((id) => have.includes(id));
}

/** Checks a placement's shape (counts, ids) and, for gpus, the machine. */
export function validatePlacement(p: Placement, probe: GpuProbe = systemGpuProbe): void {
  if (p.kind === 'gpus') return validateGpus(p.ids, probe);
  if (!Number.isInteger(p.n) || p.n < 1) throw new GradiaInputError(null, `--workers must be a positive integer (got ${p.n})`);
}
