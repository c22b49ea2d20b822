// Evaluation on the cluster: eval-mode predictions and predicted-class Grad-CAMs of a
// split, sharded so that every sample is evaluated exactly once, then the summary the
// original reports (accuracy, mean IoU against the human maps) and per-class accuracy.
import { camIoU } from '../data/iou.js';
import type { EvalSample } from '../data/types.js';
import type { EvalSampleResult } from './cluster.js';
import type { TrainingCluster } from './training_cluster.js';
import { evalShards } from './sharder.js';

export interface EvaluationSummary {
  n: number;
  accuracy: number;
  perClass: Record<string, { n: number; accuracy: number }>;
  /** Mean IoU over the samples with a human map (null when none has one). */
  iou: number | null;
  nIou: number;
  ious: Record<string, number>;
  misclassified: { img: string; label: string; pred: string }[];
}

/**
 * Runs `samples` through the cluster in chunks of `testBatch` per worker (so progress can
 * be shown and memory stays bounded); results come back in sample order.
 */
export async function evaluateSamples(
  cluster: Pick<TrainingCluster, 'size' | 'evaluate'>,
  samples: EvalSample[],
  testBatch: number,
  onProgress?: (done: number) => void,
): Promise<EvalSampleResult[]> {
  const out: EvalSampleResult[] = [];
  const chunk = Math.max(1, testBatch) * cluster.size;
  for (let start = 0; start < samples.length; start += chunk) {
    const part = samples.slice(start, start + chunk);
    const shards = evalShards(part.length, cluster.size).map((idx) => idx.map((i) => ({ path: part[i]!.path, fileName: part[i]!.fileName, label: part[i]!.label })));
    out.push(...(await cluster.evaluate(shards)));
    onProgress?.(out.length);
  }
  return out;
}

export function summariseEvaluation(samples: EvalSample[], results: EvalSampleResult[], classes: string[], grid: number): EvaluationSummary {
  if (results.length !== samples.length) throw new Error(`evaluation returned ${results.length} results for ${samples.length} samples`);
  let correct = 0;
  const perClass: Record<string, { n: number; correct: number }> = Object.fromEntries(classes.map((c) => [c, { n: 0, correct: 0 }]));
  const ious: Record<string, number> = {};
  const misclassified: EvaluationSummary['misclassified'] = [];
  let iouSum = 0;
  let nIou = 0;
  samples.forEach((s, i) => {
    const r = results[i]!;
    const cls = classes[s.label]!;
    perClass[cls]!.n++;
    if (r.pred === s.label) {
      correct++;
      perClass[cls]!.correct++;
    } else {
      misclassified.push({ img: s.fileName, label: cls, pred: classes[r.pred] ?? String(r.pred) });
    }
    if (s.humanMap) {
      const iou = camIoU(r.cam, grid, s.humanMap);
      ious[s.fileName] = iou;
      iouSum += iou;
      nIou++;
    }
  });
  return {
    n: samples.length,
    accuracy: samples.length ? correct / samples.length : 0,
    perClass: Object.fromEntries(Object.entries(perClass).map(([c, v]) => [c, { n: v.n, accuracy: v.n ? v.correct / v.n : 0 }])),
    iou: nIou ? iouSum / nIou : null,
    nIou,
    ious,
    misclassified,
  };
}
