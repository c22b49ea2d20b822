// The launcher environment -> rank mapping (src/launch/world.ts), one case per launcher,
// with the values each launcher really sets (Open MPI 4.1 mpirun, srun --mpi=pmix, a plain
// srun step, torchrun).
import { describe, expect, it } from 'vitest';
import { gpuForLocalRank, isMultiRank, launchWorldFromEnv, localTasksOfSlurmNode } from '../src/launch/world.js';

describe('launchWorldFromEnv', () => {
  it('reads Open MPI mpirun variables', () => {
    const w = launchWorldFromEnv({ OMPI_COMM_WORLD_RANK: '2', OMPI_COMM_WORLD_SIZE: '3', OMPI_COMM_WORLD_LOCAL_RANK: '1', OMPI_COMM_WORLD_LOCAL_SIZE: '2', PMIX_RANK: '2' });
    expect(w).toEqual({ launcher: 'openmpi', rank: 2, size: 3, localRank: 1, localSize: 2, source: 'OMPI_COMM_WORLD_*' });
    expect(isMultiRank(w)).toBe(true);
  });

  it('mpirun -np 1 is still an MPI rank', () => {
    const w = launchWorldFromEnv({ OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '1' });
    expect(w?.size).toBe(1);
    expect(isMultiRank(w)).toBe(true);
  });

  it('reads a PMIx launch (srun --mpi=pmix): the rank from PMIx, the size and local rank from the Slurm step', () => {
    const w = launchWorldFromEnv({ PMIX_RANK: '5', SLURM_PROCID: '5', SLURM_STEP_NUM_TASKS: '8', SLURM_LOCALID: '1', SLURM_NTASKS: '8' });
    expect(w).toMatchObject({ launcher: 'pmix', rank: 5, size: 8, localRank: 1 });
  });

  it('reads a Slurm step, local size from SLURM_STEP_TASKS_PER_NODE', () => {
    const env = { SLURM_PROCID: '3', SLURM_STEP_NUM_TASKS: '5', SLURM_LOCALID: '1', SLURM_NODEID: '1', SLURM_STEP_TASKS_PER_NODE: '2(x2),1' };
    expect(launchWorldFromEnv(env)).toEqual({ launcher: 'slurm', rank: 3, size: 5, localRank: 1, localSize: 2, source: 'SLURM_PROCID / SLURM_STEP_NUM_TASKS' });
  });

  it('a batch script outside srun (SLURM_PROCID without a step) is no launch', () => {
    expect(launchWorldFromEnv({ SLURM_PROCID: '0', SLURM_NTASKS: '4', SLURM_JOB_ID: '17' })).toBeNull();
  });

  it('a one-task Slurm step or torchrun world trains as on one machine', () => {
    expect(isMultiRank(launchWorldFromEnv({ SLURM_PROCID: '0', SLURM_STEP_NUM_TASKS: '1' }))).toBe(false);
    expect(isMultiRank(launchWorldFromEnv({ RANK: '0', WORLD_SIZE: '1', LOCAL_RANK: '0' }))).toBe(false);
  });

  it('reads torchrun-style RANK / WORLD_SIZE / LOCAL_RANK', () => {
    const w = launchWorldFromEnv({ RANK: '3', WORLD_SIZE: '4', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2' });
    expect(w).toEqual({ launcher: 'torchrun', rank: 3, size: 4, localRank: 1, localSize: 2, source: 'RANK / WORLD_SIZE' });
    expect(isMultiRank(w)).toBe(true);
  });

  it('Open MPI wins over torchrun-style variables left in the environment', () => {
    expect(launchWorldFromEnv({ OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '2', RANK: '0', WORLD_SIZE: '8' })).toMatchObject({ launcher: 'openmpi', rank: 1, size: 2 });
  });

  it('no launcher: null', () => {
    expect(launchWorldFromEnv({ HOME: '/root', RANK: '1' })).toBeNull();
    expect(isMultiRank(null)).toBe(false);
  });

  it('garbage or contradictions are one-line errors naming the variable', () => {
    expect(() => launchWorldFromEnv({ OMPI_COMM_WORLD_RANK: 'x' })).toThrow(/^environment variable OMPI_COMM_WORLD_RANK="x" is not a non-negative integer$/);
    expect(() => launchWorldFromEnv({ RANK: '4', WORLD_SIZE: '4' })).toThrow(/RANK \/ WORLD_SIZE: rank 4 is not below the world size 4/);
    expect(() => launchWorldFromEnv({ OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '0' })).toThrow(/world size is 0/);
  });
});

describe('localTasksOfSlurmNode', () => {
  it('expands the (xN) repetition', () => {
    const spec = { SLURM_STEP_TASKS_PER_NODE: '4(x2),3,1(x2)' };
    expect([0, 1, 2, 3, 4, 5].map((n) => localTasksOfSlurmNode({ ...spec, SLURM_NODEID: String(n) }))).toEqual([4, 4, 3, 1, 1, undefined]);
    expect(localTasksOfSlurmNode({ SLURM_NODEID: '0' })).toBeUndefined();
  });
});

describe('gpuForLocalRank', () => {
  it('the local rank picks from CUDA_VISIBLE_DEVICES when set, else from the driver list', () => {
    expect(gpuForLocalRank(1, '4,6', [0, 1, 2, 3, 4, 5, 6, 7])).toBe('6');
    expect(gpuForLocalRank(2, undefined, [0, 1, 2, 3])).toBe('2');
    expect(gpuForLocalRank(0, 'GPU-1a2b,GPU-3c4d', [0, 1])).toBe('GPU-1a2b');
  });

  it('more local ranks than GPUs share them round-robin; no GPU: null', () => {
    expect(gpuForLocalRank(3, undefined, [0, 1])).toBe('1');
    expect(gpuForLocalRank(0, '', [0, 1])).toBeNull();
    expect(gpuForLocalRank(0, undefined, [])).toBeNull();
  });
});
