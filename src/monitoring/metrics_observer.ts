// The metrics exporter as an observer of the run loop: each run event becomes the
// Prometheus series the dashboard reads.
import type { TrainingMetrics } from './metrics_exporter.js';
import type { RunObserver } from '../coordinator/run_events.js';

export function metricsObserver(metrics: TrainingMetrics): RunObserver {
  return {
    runStart: (r) => {
      metrics.startRun({ phase: r.phase, nEpochs: r.nEpochs, stepsPerEpoch: r.stepsPerEpoch, workers: r.workers, arch: r.arch, backend: r.backend, startEpoch: r.startEpoch });
      metrics.setLearningRate(r.lr);
    },
    workersUp: (n) => metrics.setWorkersUp(n),
    workerRestart: (rank) => metrics.recordWorkerRestart(rank),
    epochStart: (e) => {
      metrics.setRunState('training');
      metrics.startEpoch(e.epoch);
    },
    step: (s) => {
      const r = s.result;
      metrics.recordStep({
        epoch: s.epoch, step: s.step, stepInEpoch: s.stepInEpoch, images: r.n, taskLoss: s.taskLoss, attLoss: s.attLoss, learningRate: s.lr,
        workers: r.workers.map((w) => ({ worker: w.rank, stepS: w.timings.totalS, allReduceS: w.timings.allReduceS, allReduceBytes: w.allReduceBytes })),
      });
      for (const w of r.workers) metrics.setWorkerMemory(w.rank, w.memory);
      metrics.setQueueDepth(r.workers.reduce((a, w) => a + w.dataQueueDepth, 0));
    },
    evaluating: () => metrics.setRunState('evaluating'),
    epochEnd: (e) => {
      metrics.addEvaluated(e.split, e.evaluated);
      metrics.recordValidation({ epoch: e.record.epoch, accuracy: e.record.accuracy, iou: e.record.iou ?? undefined, explanation: e.record.explanation ?? undefined });
    },
    checkpointSaved: () => metrics.recordCheckpoint(),
    runEnd: (outcome) => metrics.endRun(outcome),
  };
}
