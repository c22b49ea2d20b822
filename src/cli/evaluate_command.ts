import path from 'node:path';
import { formatMatrix, matrixOf, readHumanAssessment, type ReasonabilityMatrix } from '../data/assess.js';
import { labelOf } from '../data/reasonability.js';
import { evaluateCheckpoint } from '../coordinator/checkpoint_cluster.js';
import { writeEvaluationReport } from '../report/eval_report.js';
import { ProgressDisplay } from './progress.js';
import { printJsonLine, runtimeFrom, type RuntimeFlags } from './runtime_options.js';
import { GradiaInputError } from '../util/errors.js';
import { ensureWritableDir } from '../util/fs_errors.js';

export interface EvaluateFlags extends RuntimeFlags {
  dataDir: string; modelDir: string; modelName: string; testBatch: number; split: 'test' | 'val';
  outDir?: string; humanAssessment?: string; gridSamples: number; json?: boolean;
}

export async function evaluateCommand(f: EvaluateFlags): Promise<void> {
  const human = f.humanAssessment ? readHumanAssessment(f.humanAssessment) : null;
  const outDir = f.outDir ?? path.join('results', `${f.modelName}-${f.split}`);
  // An output folder that cannot be written fails now, not after the evaluation.
  ensureWritableDir(outDir, '--out-dir');
  const progress = new ProgressDisplay();
  const { evalSet, results, summary, meta, grid } = await evaluateCheckpoint({
    runtime: await runtimeFrom(f), dataDir: f.dataDir, modelDir: f.modelDir, name: f.modelName, split: f.split, testBatch: f.testBatch,
    onStart: (set) => {
      for (const w of set.warnings) progress.log(`warning: ${w}`);
      progress.start(`evaluate ${f.split}`, set.samples.length);
    },
    onProgress: (done) => progress.update({ done }),
  });
  progress.finish();
  let matrix: ReasonabilityMatrix | null = null;
  if (human) {
    const labels = evalSet.samples.flatMap((s, i) => (human.has(s.fileName) ? [labelOf(human.get(s.fileName)!, results[i]!.pred === s.label)] : []));
    if (labels.length === 0) throw new GradiaInputError(f.humanAssessment!, `none of its entries names a ${f.split} image`);
    matrix = matrixOf(labels);
  }
  const paths = await writeEvaluationReport({
    outDir, samples: evalSet.samples, results, summary, grid, gridSamples: f.gridSamples,
    extra: { model: f.modelName, checkpoint: meta.id, split: f.split, reasonabilityMatrix: matrix },
  });
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  const num = (x: number | null) => (x === null ? 'n/a' : x.toFixed(4));
  console.log(`${f.modelName} on ${f.split}: accuracy ${pct(summary.accuracy)} (${summary.n} images), mean IoU ${summary.iou === null ? 'n/a (no human maps)' : summary.iou.toFixed(4)} (${summary.nIou} maps)`);
  if (summary.explanation) {
    const e = summary.explanation;
    console.log(`  explanation (RES): precision ${num(e.precision)}, recall ${num(e.recall)}, F1 ${num(e.f1)}`);
  }
  for (const [c, v] of Object.entries(summary.perClass)) {
    const maps = v.nIou ? `; ${v.nIou} maps: IoU ${num(v.iou)}, precision ${num(v.precision)}, recall ${num(v.recall)}, F1 ${num(v.f1)}` : '';
    console.log(`  ${c}: ${pct(v.accuracy)} of ${v.n}${maps}`);
  }
  if (matrix) console.log(formatMatrix(matrix));
  console.log(`wrote ${paths.iouJson}, ${paths.explanationJson}, ${paths.misclassifiedJson}, ${paths.attentionDir}/ and ${paths.summaryGrid}`);
  if (f.json) {
    printJsonLine({
      command: 'evaluate', model: f.modelName, split: f.split, accuracy: summary.accuracy, iou: summary.iou, n: summary.n, nIou: summary.nIou,
      explanation: summary.explanation,
      perClass: summary.perClass, reasonabilityMatrix: matrix,
      outputs: { iou: paths.iouJson, explanation: paths.explanationJson, misclassified: paths.misclassifiedJson, attention: paths.attentionDir, summaryGrid: paths.summaryGrid, summary: paths.summaryJson },
    });
  }
}
