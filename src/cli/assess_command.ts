import { openCheckpointCluster } from '../coordinator/checkpoint_cluster.js';
import { evaluateSamples } from '../coordinator/evaluation.js';
import type { AssessResult } from '../data/assess.js';
import type { RuntimeConfig } from '../coordinator/train.js';
import { assessCommand as runAssess } from './assess.js';
import { printJsonLine, runtimeFrom, type RuntimeFlags } from './runtime_options.js';

export interface AssessFlags extends RuntimeFlags {
  dataDir: string; modelDir: string; modelName: string; testBatch: number; tau: number; human?: string; json?: boolean;
}

/** Judges a saved checkpoint's validation attention (or reads human judgements); prints the matrix. */
export async function assessCheckpoint(runtime: RuntimeConfig, o: { dataDir: string; modelDir: string; modelName: string; testBatch: number; tau: number; human?: string }): Promise<AssessResult> {
  const { cluster, meta } = await openCheckpointCluster(runtime, o.modelDir, o.modelName, o.testBatch);
  try {
    const grid = meta.inputSize / 32;
    return await runAssess({
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
