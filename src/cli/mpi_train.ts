// `gradia-dist train` started by an MPI launcher (mpirun, srun --mpi=pmix, an MPIJob): this
// process is one rank with one replica. Rank 0 shows progress and writes checkpoints; every
// rank may export metrics (labelled with its rank and host). Errors end the whole job: one
// that every rank found alike (a data set that differs) is printed once by rank 0, then every
// rank finalises MPI and exits; one of this rank alone (a crash, a stalled peer) is printed
// with the rank and host and the job is aborted (MPI_Abort), so no rank waits forever.
import os from 'node:os';
import { resumeHint } from '../coordinator/checkpoint.js';
import { CheckpointPolicy } from '../coordinator/checkpoint_policy.js';
import { Mpi, mpiAvailable } from '../comm/mpi.js';
import { NonFiniteStepError, runTraining, type TrainRequest } from '../coordinator/train.js';
import { ReplicaDivergenceError } from '../coordinator/cluster.js';
import { AgreedInputError, RankFailedError } from '../coordinator/mpi_cluster.js';
import { autoGpus, systemGpuProbe } from '../coordinator/placement.js';
import { gpuForLocalRank, type LaunchWorld } from '../launch/world.js';
import { TrainingMetrics, type MetricsServer } from '../monitoring/metrics_exporter.js';
import { metricsObserver } from '../monitoring/metrics_observer.js';
import { GradiaInputError, escapeControl } from '../util/errors.js';
import { ProgressDisplay, progressObserver } from './progress.js';
import { checkRuntimeFlags, decodeCacheBytes, defaultThreads, printJsonLine } from './runtime_options.js';
import { withoutRuntimeFlags, type TrainFlags } from './train_command.js';

/** Ends the command with `code` without a message (another rank printed it). */
export class SilentExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = 'SilentExit';
  }
}

const ABORT_CODE = 3;
/** This rank has printed its verdict and is aborting the job: the launcher's SIGTERM needs no second line. */
let aborting = false;
/**
 * A rank that is not the one reporting a stall leaves the abort to the reporter (two aborts
 * garble mpirun's messages); it aborts itself only if the job is still alive this much later.
 */
const QUIET_ABORT_DELAY_MS = 30_000;

/** Flags that choose replicas on this machine mean nothing under a launcher: one line, rank 0 says it. */
function checkMpiFlags(flags: TrainFlags): void {
  const conflict = flags.gpus !== undefined ? '--gpus' : flags.workers !== undefined ? '--workers' : flags.processes ? '--processes' : null;
  if (conflict) throw new GradiaInputError(null, `${conflict} cannot be used under an MPI launcher: every rank is one replica (choose the count with mpirun -np N)`);
  checkRuntimeFlags(flags);
}

export async function mpiTrainCommand(flags: TrainFlags, launch: LaunchWorld): Promise<void> {
  const speaks = launch.rank === 0;
  // Before MPI is up, the ranks can only agree by construction (same flags, same build): rank 0 reports.
  try {
    checkMpiFlags(flags);
    const have = mpiAvailable();
    if (!have.ok) {
      throw new GradiaInputError(null, `started by an MPI launcher (${launch.source}: rank ${launch.rank}${launch.size !== null ? ` of ${launch.size}` : ''}), but ${have.reason}`);
    }
  } catch (e) {
    if (speaks) throw e;
    throw new SilentExit(2);
  }

  // A GPU host: the local rank picks its GPU, as --gpus gives each worker process one.
  let backend = flags.backend;
  if (flags.backend === 'auto' || flags.backend === 'tensorflow') {
    const ids = autoGpus(systemGpuProbe);
    if (ids.length > 0) {
      const gpu = gpuForLocalRank(launch.localRank ?? 0, process.env.CUDA_VISIBLE_DEVICES, ids);
      if (gpu !== null) {
        process.env.CUDA_VISIBLE_DEVICES = gpu;
        backend = 'tensorflow';
      }
    }
  }

  const mpi = await Mpi.init();
  const host = mpi.host || os.hostname();
  if (mpi.rank !== launch.rank || (launch.size !== null && mpi.size !== launch.size)) {
    const line = `${launch.source} says rank ${launch.rank}${launch.size !== null ? ` of ${launch.size}` : ''}, but MPI sees rank ${mpi.rank} of ${mpi.size}: start the command with mpirun or srun --mpi=pmix`;
    await mpi.finalize();
    if (mpi.rank === 0) throw new GradiaInputError(null, line);
    throw new SilentExit(2);
  }

  const replicasHere = launch.localSize ?? 1;
  const request: TrainRequest = {
    ...withoutRuntimeFlags(flags),
    backend: backend as TrainRequest['backend'],
    placement: { kind: 'mpi', n: mpi.size, rank: mpi.rank },
    loaderThreads: flags.loaderThreads,
    decodeCacheBytes: decodeCacheBytes(flags.decodeCacheMb, replicasHere),
    threads: flags.threads ?? defaultThreads(replicasHere),
    stepTimeoutS: flags.stepTimeout,
  };

  // When another rank dies, the launcher names it ("mpirun noticed that process rank R ... on
  // node H exited on signal ...") and stops the others with SIGTERM: rank 0 adds what to resume.
  const onTerm = (): void => {
    if (mpi.rank === 0 && !aborting) {
      const last = new CheckpointPolicy(flags.phase, flags.modelName, flags.checkpointEvery).last;
      process.stderr.write(`gradia-dist: rank 0 (host ${host}): stopped by the MPI launcher (another rank ended, named in the launcher's message, or the job was interrupted)${resumeHint(flags.modelDir, last)}\n`);
    }
    process.exit(143);
  };
  process.once('SIGTERM', onTerm);

  const display = new ProgressDisplay({ enabled: mpi.rank === 0 });
  const observers = mpi.rank === 0 ? [progressObserver(display)] : [];
  let server: MetricsServer | null = null;
  try {
    if (flags.metricsPort !== null) {
      const metrics = new TrainingMetrics();
      metrics.registry.setDefaultLabels({ rank: String(mpi.rank), host });
      // Ranks sharing a host need their own ports: --metrics-port + local rank (0 stays ephemeral).
      const port = flags.metricsPort === 0 ? 0 : flags.metricsPort + (launch.localRank ?? 0);
      server = await metrics.serve({ port, host: flags.metricsHost, lingerS: flags.metricsLingerS });
      process.stderr.write(`rank ${mpi.rank} (host ${host}): metrics: ${server.url}\n`);
      observers.push(metricsObserver(metrics));
    }
    if (mpi.rank === 0) display.log(`MPI job: ${mpi.size} rank(s) on ${mpi.library}`);
    // The replicas' checksums, compared over all ranks (--check-every, and before every checkpoint).
    let lastCheck: { step: number; checksum: string } | null = null;
    observers.push({ step: (s) => { if (s.result.checksum) lastCheck = { step: s.step, checksum: s.result.checksum }; } });
    const summary = await runTraining({ ...request, observers });
    const checked = lastCheck as { step: number; checksum: string } | null;
    if (mpi.rank === 0 && checked) display.log(`weights identical on all ${mpi.size} ranks (checksum ${checked.checksum} after step ${checked.step})`);
    if (flags.json && mpi.rank === 0) printJsonLine({ command: 'train', ...summary, ranks: mpi.size });
  } catch (e) {
    await server?.close().catch(() => undefined);
    server = null;
    if (e instanceof AgreedInputError) {
      await mpi.finalize();
      if (e.report) throw e;
      throw new SilentExit(2);
    }
    await abortJob(mpi, e, host);
  } finally {
    await server?.close();
  }
  process.off('SIGTERM', onTerm);
  await mpi.finalize();
}

/** Prints this rank's one line (unless another rank speaks for the job) and aborts every rank. Never resolves. */
function abortJob(mpi: Mpi, e: unknown, host: string): Promise<never> {
  aborting = true;
  // A verdict every rank reached alike (diverged checksums, a non-finite step: both come from
  // allgathered or all-reduced values) is printed by rank 0 alone.
  const agreed = e instanceof ReplicaDivergenceError || e instanceof NonFiniteStepError;
  const quiet = (e instanceof RankFailedError && !e.report) || (agreed && mpi.rank !== 0);
  if (!quiet) {
    const msg = e instanceof Error ? e.message : String(e);
    // A stall is the job's verdict (it names the ranks); anything else is this rank's own failure.
    const who = e instanceof RankFailedError || agreed ? '' : `rank ${mpi.rank} (host ${host}): `;
    process.stderr.write(`gradia-dist: ${who}${escapeControl(msg)}\n`);
    if (process.env.GRADIA_DEBUG && e instanceof Error) process.stderr.write(`${e.stack ?? ''}\n`);
  }
  if (quiet) setTimeout(() => mpi.abort(ABORT_CODE), QUIET_ABORT_DELAY_MS);
  else mpi.abort(ABORT_CODE);
  // MPI_Abort ends the process from the MPI thread; until then the command must not finish
  // (main would exit without MPI_Finalize) and the event loop must stay alive.
  setInterval(() => undefined, 1 << 30);
  return new Promise<never>(() => undefined);
}
