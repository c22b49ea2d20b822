// Evaluation on the cluster: eval-mode predictions and predicted-class Grad-CAMs of a
// split, sharded so that every sample is evaluated exactly once, then the summary the
// original reports (accuracy, mean IoU against the human maps), RES's explanation
// precision / recall / F1, and all of them per class.
import { camExplanationScores, type ExplanationScores } from '../data/explanation_metrics.js';
import { camIoU } from '../data/iou.js';
import type { EvalSample } from '../data/types.js';
import type { Cluster, EvalSampleResult } from './cluster.js';
import { evalShards } from './sharder.js';

/** A class's (or the split's) means over its images with a human map; null when it has none. */
export interface MapMeans {
  iou: number | null;
  precision: number | null;
  recall: number | null;
  f1: number | null;
}

export interface EvaluationSummary {
  n: number;
  accuracy: number;
  perClass: Record<string, { n: number; accuracy: number; nIou: number } & MapMeans>;
  /** Mean IoU over the samples with a human map (null when none has one). */
  iou: number | null;
  nIou: number;
  ious: Record<string, number>;
  /** RES's explanation scores, means over the samples with a human map (null when none has one). */
  explanation: ExplanationScores | null;
  /** Per image with a human map: RES's explanation scores. */
  explanations: Record<string, ExplanationScores>;
  misclassified: { img: string; label: string; pred: string }[];
}

/**
 * Runs `samples` through the cluster in chunks of `testBatch` per worker (so progress can
 * be shown and memory stays bounded); results come back in sample order.
 */
export async function evaluateSamples(
  cluster: Cluster,
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
  const perClass: Record<string, { n: number; correct: number; sums: MapSums }> = Object.fromEntries(classes.map((c) => [c, { n: 0, correct: 0, sums: newSums() }]));
  const all = newSums();
  const ious: Record<string, number> = {};
  const explanations: Record<string, ExplanationScores> = {};
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
      const e = camExplanationScores(r.cam, grid, s.humanMap);
      explanations[s.fileName] = e;
      addTo(all, iou, e);
      addTo(perClass[cls]!.sums, iou, e);
    }
  });
  return {
    n: samples.length,
    accuracy: samples.length ? correct / samples.length : 0,
    perClass: Object.fromEntries(Object.entries(perClass).map(([c, v]) => [c, { n: v.n, accuracy: v.n ? v.correct / v.n : 0, nIou: v.sums.n, ...meansOf(v.sums) }])),
    iou: nIou ? iouSum / nIou : null,
    nIou,
    ious,
    explanation: all.n ? { precision: all.precision / all.n, recall: all.recall / all.n, f1: all.f1 / all.n } : null,
    explanations,
    misclassified,
  };
}

interface MapSums { n: number; iou: number; precision: number; recall: number; f1: number }
const newSums = (): MapSums => ({ n: 0, iou: 0, precision: 0, recall: 0, f1: 0 });
function addTo(s: MapSums, iou: number, e: ExplanationScores): void {
  s.n++;
  s.iou += iou;
  s.precision += e.precision;
  s.recall += e.recall;
  s.f1 += e.f1;
}
function meansOf(s: MapSums): MapMeans {
  return s.n ? { iou: s.iou / s.n, precision: s.precision / s.n, recall: s.recall / s.n, f1: s.f1 / s.n } : { iou: null, precision: null, recall: null, f1: null };
}
