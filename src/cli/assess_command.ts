// `gradia-dist assess`: stand-in for the human judges of the phase-1 model. Judges a saved
// checkpoint's validation attention (or reads human judgements), prints the 2x2 matrix and
// writes reasonablity_val.json.
import { openCheckpointCluster } from '../coordinator/checkpoint_cluster.js';
import { evaluateSamples } from '../coordinator/evaluation.js';
import { assessModel, formatMatrix, type AssessOptions, type AssessResult } from '../data/assess.js';
import type { RuntimeConfig } from '../coordinator/train.js';
import { printJsonLine, runtimeFrom, type RuntimeFlags } from './runtime_options.js';
import { gridOf } from '../config/geometry.js';

export interface AssessFlags extends RuntimeFlags {
  dataDir: string; modelDir: string; modelName: string; testBatch: number; tau: number; human?: string; json?: boolean;
}

/** Runs the assessment with the given `evaluate` and prints its warnings, mean IoU and matrix. */
export async function assessAndReport(opts: AssessOptions): Promise<AssessResult> {
  const r = await assessModel(opts);
  for (const w of r.warnings) console.warn(`warning: ${w}`);
  const n = Object.keys(r.labels).length;
  const iouVals = Object.values(r.ious);
  const judge = opts.human ? `human judgements from ${opts.human}` : `Grad-CAM IoU >= ${opts.tau} with the human map`;
  console.log(`assess: ${n} validation images judged by ${judge}`);
  if (iouVals.length) console.log(`  mean IoU ${(iouVals.reduce((a, b) => a + b, 0) / iouVals.length).toFixed(4)}`);
  console.log(formatMatrix(r.matrix));
  console.log(`wrote ${r.file}`);
  return r;
}

/** Judges a saved checkpoint's validation attention (or reads human judgements); prints the matrix. */
export async function assessCheckpoint(runtime: RuntimeConfig, o: { dataDir: string; modelDir: string; modelName: string; testBatch: number; tau: number; human?: string }): Promise<AssessResult> {
  const { cluster, meta } = await openCheckpointCluster(runtime, o.modelDir, o.modelName, o.testBatch);
  try {
    const grid = gridOf(meta.inputSize);
    return await assessAndReport({
      dataDir: o.dataDir,
      tau: o.tau,
      human: o.human,
      evaluate: async (samples) => (await evaluateSamples(cluster, samples, o.testBatch)).map((r) => ({ pred: r.pred, cam: r.cam, grid })),
    });
  } finally {
    await cluster.close();
  }
}

/** `assess`. */
export async function assessCommand(f: AssessFlags): Promise<void> {
  const r = await assessCheckpoint(await runtimeFrom(f), f);
  if (f.json) printJsonLine({ command: 'assess', model: f.modelName, matrix: r.matrix, file: r.file, n: Object.keys(r.labels).length });
}
