// What the run loop (train.ts) needs of a cluster: the worker cluster (threads, processes,
// GPUs; cluster.ts) or one rank of an MPI job (mpi_cluster.ts).
import { startCluster, type Cluster, type ClusterOptions } from './cluster.js';
import { MpiCluster, type RankAgreement } from './mpi_cluster.js';

export type TrainingCluster = Pick<Cluster, 'size' | 'info' | 'trainStep' | 'evaluate' | 'getState' | 'setState' | 'checkWeights' | 'close'>;

/** Starts the cluster of a placement; an MPI placement also checks that every rank agrees on `agreement`. */
export async function startTrainingCluster(opts: ClusterOptions & { replica: NonNullable<ClusterOptions['replica']>; agreement: RankAgreement }): Promise<{ cluster: TrainingCluster; world: string[] }> {
  if (opts.placement.kind === 'mpi') {
    const cluster = await MpiCluster.start({ replica: opts.replica, timeoutMs: opts.timeoutMs ?? 0, checkEvery: opts.checkEvery, agreement: opts.agreement });
    return { cluster, world: cluster.describeWorld() };
  }
  return { cluster: await startCluster(opts), world: [] };
}
