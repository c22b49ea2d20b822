// What the run loop tells the world: one observer interface that the progress display (CLI)
// and the metrics exporter both implement, so the loop notifies once per event and imports
// neither. Every method is optional; `fanOut` combines observers.
import type { EpochRecord } from './checkpoint.js';
import type { StepMetrics } from './cluster.js';

export interface RunStart {
  phase: 1 | 2;
  nEpochs: number;
  stepsPerEpoch: number;
  workers: number;
  arch: string;
  /** The backend's name, e.g. "onednn". */
  backend: string;
  /** 1-based epoch the run starts (or resumes) in. */
  startEpoch: number;
  lr: number;
}

export interface StepDone {
  phase: 1 | 2;
  /** 1-based epoch; `step` counts optimizer steps of the whole run (after this one). */
  epoch: number;
  step: number;
  stepInEpoch: number;
  /** Images of the epoch done so far (this step included). */
  doneImages: number;
  /** This step's mean losses. */
  taskLoss: number;
  attLoss: number;
  /** The epoch's running mean losses. */
  epochTaskLoss: number;
  epochAttLoss: number;
  lr: number;
  result: StepMetrics;
}

export interface EpochDone {
  phase: 1 | 2;
  nEpochs: number;
  record: EpochRecord;
  split: 'val' | 'test';
  evaluated: number;
  best: boolean;
  /** Checkpoint names written after the epoch (per-epoch and best), for the summary line. */
  written: string[];
}

export interface RunEvents {
  /** A line for the person running the command (warnings, what was chosen, resumes). */
  log(line: string): void;
  runStart(info: RunStart): void;
  workersUp(n: number): void;
  workerRestart(rank: number): void;
  epochStart(e: { phase: 1 | 2; epoch: number; nEpochs: number; totalImages: number; doneImages: number }): void;
  step(s: StepDone): void;
  evaluating(): void;
  epochEnd(e: EpochDone): void;
  /** The resumable checkpoint was written. */
  checkpointSaved(): void;
  runEnd(outcome: 'finished' | 'failed'): void;
}

export type RunObserver = Partial<RunEvents>;

/** One RunEvents that forwards each event to every observer that handles it. */
export function fanOut(observers: readonly RunObserver[]): RunEvents {
  const call = <K extends keyof RunEvents>(k: K) => (...args: Parameters<RunEvents[K]>): void => {
    for (const o of observers) (o[k] as ((...a: Parameters<RunEvents[K]>) => void) | undefined)?.(...args);
  };
  return {
    log: call('log'), runStart: call('runStart'), workersUp: call('workersUp'), workerRestart: call('workerRestart'),
    epochStart: call('epochStart'), step: call('step'), evaluating: call('evaluating'), epochEnd: call('epochEnd'),
    checkpointSaved: call('checkpointSaved'), runEnd: call('runEnd'),
  };
}
