import { openCheckpointCluster } from '../coordinator/checkpoint_cluster.js';
import { evaluateSamples } from '../coordinator/evaluation.js';
import { assessCommand as runAssess } from './assess.js';
import { printJsonLine, runtimeFrom, type RuntimeFlags } from './runtime_options.js';

export interface AssessFlags extends RuntimeFlags {
  dataDir: string; modelDir: string; modelName: string; testBatch: number; tau: number; human?: string; json?: boolean;
}

/** `assess`: judges the checkpoint's validation attention (or reads human judgements). */
export async function assessCommand(f: AssessFlags): Promise<void> {
  const { cluster, meta } = await openCheckpointCluster((await runtimeFrom(f)), f.modelDir, f.modelName, f.testBatch);
  try {
    const grid = meta.inputSize / 32;
    const r = await runAssess({
      dataDir: f.dataDir,
      tau: f.tau,
      human: f.human,
      evaluate: async (samples) => (await evaluateSamples(cluster, samples, f.testBatch)).map((o) => ({ pred: o.pred, cam: o.cam, grid })),
    });
    if (f.json) printJsonLine({ command: 'assess', model: f.modelName, matrix: r.matrix, file: r.file, n: Object.keys(r.labels).length });
  } finally {
    await cluster.close();
  }
}
