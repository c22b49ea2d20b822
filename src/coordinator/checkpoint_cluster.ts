// A cluster whose replicas hold a saved checkpoint's weights (evaluate, assess).
import path from 'node:path';
import { readCheckpointMeta, type CheckpointMeta } from './checkpoint.js';
import { startCluster, type Cluster } from './cluster.js';
import type { RuntimeConfig } from './train.js';

export async function openCheckpointCluster(runtime: RuntimeConfig, modelDir: string, name: string, evalBatch: number): Promise<{ cluster: Cluster; meta: CheckpointMeta }> {
  const meta = readCheckpointMeta(modelDir, name);
  const cluster = await startCluster({
    placement: runtime.placement,
    timeoutMs: runtime.stepTimeoutS * 1000,
    replica: {
      backend: runtime.backend,
      arch: meta.arch,
      numClasses: meta.numClasses,
      inputSize: meta.inputSize,
      seed: 0,
      weights: path.join(modelDir, `${name}.safetensors`),
      lr: 0,
      attentionWeight: 0,
      camMode: 'closed',
      microBatch: Math.max(1, evalBatch),
      pipelineThreads: runtime.loaderThreads,
      threads: runtime.threads,
      originalFlipBug: false,
    },
  });
  return { cluster, meta };
}
