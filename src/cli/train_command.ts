import type { DataOptions, RuntimeOptions, TrainOptions } from '../config/run_spec.js';
import { TrainingMetrics, type MetricsServer } from '../monitoring/metrics_exporter.js';
import { metricsObserver } from '../monitoring/metrics_observer.js';
import { runTraining, type TrainRequest } from '../coordinator/train.js';
import { ProgressDisplay, progressObserver } from './progress.js';
import { printJsonLine, runtimeFrom } from './runtime_options.js';
import { isMultiRank, launchWorldFromEnv, type LaunchWorld } from '../launch/world.js';
import { GradiaInputError } from '../util/errors.js';

function launchWorldFromEnvOrThrow(env: NodeJS.ProcessEnv): LaunchWorld | null {
  try {
    return launchWorldFromEnv(env);
  } catch (e) {
    throw new GradiaInputError(null, `the launcher's environment: ${(e as Error).message}`);
  }
}

export type TrainFlags = RuntimeOptions & DataOptions & TrainOptions;

/** The run's own flags: the train flags without those that pick and size the replicas (resolved apart). */
export function withoutRuntimeFlags(f: TrainFlags): Omit<TrainFlags, 'backend' | 'gpus' | 'workers' | 'processes' | 'threads' | 'loaderThreads' | 'decodeCacheMb' | 'stepTimeout' | 'json'> {
  const { backend: _b, gpus: _g, workers: _w, processes: _p, threads: _t, loaderThreads: _l, decodeCacheMb: _d, stepTimeout: _s, json: _j, ...rest } = f;
  return rest;
}

/** The run config of `train`: the spec's values, with placement and threads resolved. */
export async function trainConfigFrom(f: TrainFlags): Promise<TrainRequest> {
  return { ...withoutRuntimeFlags(f), ...(await runtimeFrom(f)) };
}

/** `train`: the run with a progress display on stderr and, with --metrics-port, a Prometheus exporter. */
export async function trainCommand(flags: TrainFlags): Promise<void> {
  // Started by mpirun / srun / an MPIJob: this process is one rank (src/cli/mpi_train.ts).
  const launch = launchWorldFromEnvOrThrow(process.env);
  if (isMultiRank(launch)) {
    const { mpiTrainCommand } = await import('./mpi_train.js');
    return mpiTrainCommand(flags, launch);
  }
  const request = await trainConfigFrom(flags);
  const display = new ProgressDisplay();
  const observers = [progressObserver(display)];
  let server: MetricsServer | null = null;
  if (flags.metricsPort !== null) {
    const metrics = new TrainingMetrics();
    server = await metrics.serve({ port: flags.metricsPort, host: flags.metricsHost, lingerS: flags.metricsLingerS });
    display.log(`metrics: ${server.url}`);
    observers.push(metricsObserver(metrics));
  }
  try {
    const summary = await runTraining({ ...request, observers });
    if (flags.json) printJsonLine({ command: 'train', ...summary });
  } finally {
    await server?.close();
  }
}
