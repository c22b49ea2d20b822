// Which rank this process is, as its launcher tells it through the environment: Open MPI's
// mpirun (OMPI_COMM_WORLD_*), a PMIx launch such as `srun --mpi=pmix` (PMIX_RANK, the size
// from Slurm), Slurm's own step variables, or torchrun-style RANK / WORLD_SIZE / LOCAL_RANK.
// Pure: it reads the map it is given. MPI itself (src/comm/mpi.ts) has the last word; the
// run checks that both agree.

export type Launcher = 'openmpi' | 'pmix' | 'slurm' | 'torchrun';

export interface LaunchWorld {
  launcher: Launcher;
  rank: number;
  /** Ranks in the job; null when the launcher does not say (MPI will). */
  size: number | null;
  /** This rank's index among the ranks on its host (picks the GPU); null when unknown. */
  localRank: number | null;
  localSize: number | null;
  /** The variables the values came from, for messages. */
  source: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** A non-negative integer variable, undefined when unset; throws on garbage. */
function count(env: Env, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v.trim() === '') return undefined;
  if (!/^\d+$/.test(v.trim())) throw new Error(`environment variable ${name}=${JSON.stringify(v)} is not a non-negative integer`);
  return Number(v.trim());
}

function world(launcher: Launcher, rank: number, size: number | undefined, localRank: number | undefined, localSize: number | undefined, source: string): LaunchWorld {
  if (size !== undefined && size < 1) throw new Error(`${source}: the world size is ${size}`);
  if (size !== undefined && rank >= size) throw new Error(`${source}: rank ${rank} is not below the world size ${size}`);
  if (localRank !== undefined && localSize !== undefined && localRank >= localSize) {
    throw new Error(`${source}: local rank ${localRank} is not below the local size ${localSize}`);
  }
  return { launcher, rank, size: size ?? null, localRank: localRank ?? null, localSize: localSize ?? null, source };
}

/**
 * The launch world of this process, or null when no launcher started it. First match wins:
 * Open MPI, PMIx, a Slurm step (srun; a batch script alone is not a step), torchrun.
 * Throws a one-line Error on contradictory or malformed values.
 */
export function launchWorldFromEnv(env: Env): LaunchWorld | null {
  const ompiRank = count(env, 'OMPI_COMM_WORLD_RANK');
  if (ompiRank !== undefined) {
    return world('openmpi', ompiRank, count(env, 'OMPI_COMM_WORLD_SIZE'), count(env, 'OMPI_COMM_WORLD_LOCAL_RANK'), count(env, 'OMPI_COMM_WORLD_LOCAL_SIZE'), 'OMPI_COMM_WORLD_*');
  }
  // srun's step variables: SLURM_PROCID alone is also set in a batch script's shell, where no
  // step runs; SLURM_STEP_NUM_TASKS only inside `srun`.
  const slurmSize = count(env, 'SLURM_STEP_NUM_TASKS');
  const pmixRank = count(env, 'PMIX_RANK');
  if (pmixRank !== undefined) {
    return world('pmix', pmixRank, slurmSize ?? count(env, 'WORLD_SIZE'), count(env, 'SLURM_LOCALID') ?? count(env, 'LOCAL_RANK'), undefined, 'PMIX_RANK');
  }
  const slurmRank = count(env, 'SLURM_PROCID');
  if (slurmRank !== undefined && slurmSize !== undefined) {
    return world('slurm', slurmRank, slurmSize, count(env, 'SLURM_LOCALID'), localTasksOfSlurmNode(env), 'SLURM_PROCID / SLURM_STEP_NUM_TASKS');
  }
  const rank = count(env, 'RANK');
  const size = count(env, 'WORLD_SIZE');
  if (rank !== undefined && size !== undefined) {
    return world('torchrun', rank, size, count(env, 'LOCAL_RANK'), count(env, 'LOCAL_WORLD_SIZE'), 'RANK / WORLD_SIZE');
  }
  return null;
}

/**
 * Tasks of this step on this node, from SLURM_STEP_TASKS_PER_NODE ("2(x3),1": 2 tasks on
 * each of the first 3 nodes, then 1) and SLURM_NODEID; undefined when either is missing.
 */
export function localTasksOfSlurmNode(env: Env): number | undefined {
  const spec = env.SLURM_STEP_TASKS_PER_NODE ?? env.SLURM_TASKS_PER_NODE;
  const node = count(env, 'SLURM_NODEID');
  if (!spec || node === undefined) return undefined;
  let i = 0;
  for (const part of spec.split(',')) {
    const m = /^(\d+)(?:\(x(\d+)\))?$/.exec(part.trim());
    if (!m) return undefined;
    const reps = m[2] ? Number(m[2]) : 1;
    if (node < i + reps) return Number(m[1]);
    i += reps;
  }
  return undefined;
}

/**
 * Does this world mean "run as one MPI rank"? A world of more than one rank does; so does
 * `mpirun -np 1` (Open MPI's variables). A one-task Slurm step or torchrun world does not:
 * the command then trains on this machine as it would outside the launcher.
 */
export function isMultiRank(w: LaunchWorld | null): w is LaunchWorld {
  if (!w) return false;
  return w.launcher === 'openmpi' || w.launcher === 'pmix' || (w.size ?? 1) > 1;
}

/**
 * The CUDA_VISIBLE_DEVICES value of a rank on a GPU host: the local rank's GPU, taken from
 * the devices CUDA_VISIBLE_DEVICES already lists (the launcher's or the scheduler's share),
 * else from the GPUs the driver lists. Null: no GPU for this rank (none listed).
 * Local ranks beyond the GPU count share GPUs round-robin.
 */
export function gpuForLocalRank(localRank: number, visible: string | undefined, driverIds: readonly number[]): string | null {
  const listed = visible === undefined ? null : visible.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const pool = listed ?? driverIds.map(String);
  if (pool.length === 0) return null;
  return pool[localRank % pool.length]!;
}
