// A cluster whose replicas hold a saved checkpoint's weights (evaluate, assess).
import path from 'node:path';
import { buildEvalSet, type EvalSet } from '../data/phase_dataset.js';
import { EVAL_MICRO_BATCH } from '../model/train.js';
import { checkSameClasses, readCheckpointMeta, type CheckpointMeta } from './checkpoint.js';
import { startCluster, type Cluster, type EvalSampleResult } from './cluster.js';
import { evaluateSamples, summariseEvaluation, type EvaluationSummary } from './evaluation.js';
import type { RuntimeConfig } from './train.js';
import { gridOf } from '../config/geometry.js';

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
      // forwards of at most EVAL_MICRO_BATCH images: --test-batch only sets how many go to a
      // worker at once (one forward of 200 ResNet-50 images at 224 px held ~44 GB of tensors)
      microBatch: Math.min(Math.max(1, evalBatch), EVAL_MICRO_BATCH),
      pipelineThreads: runtime.loaderThreads,
      decodeCacheBytes: runtime.decodeCacheBytes,
      threads: runtime.threads,
      originalFlipBug: false,
    },
  });
  return { cluster, meta };
}

/**
 * Evaluates a saved checkpoint on a split: predictions and Grad-CAMs of every sample (in
 * split order) and the summary. The data set's classes must be the checkpoint's.
 */
export async function evaluateCheckpoint(opts: {
  runtime: RuntimeConfig; dataDir: string; modelDir: string; name: string; split: 'val' | 'test'; testBatch: number;
  onStart?: (evalSet: EvalSet) => void; onProgress?: (done: number) => void;
}): Promise<{ evalSet: EvalSet; results: EvalSampleResult[]; summary: EvaluationSummary; meta: CheckpointMeta; grid: number }> {
  const evalSet = await buildEvalSet(opts.dataDir, opts.split);
  const { cluster, meta } = await openCheckpointCluster(opts.runtime, opts.modelDir, opts.name, opts.testBatch);
  let results: EvalSampleResult[];
  try {
    checkSameClasses(opts.modelDir, opts.name, meta.classes, evalSet.classes);
    opts.onStart?.(evalSet);
    results = await evaluateSamples(cluster, evalSet.samples, opts.testBatch, opts.onProgress);
  } finally {
    await cluster.close();
  }
  const grid = gridOf(meta.inputSize);
  return { evalSet, results, summary: summariseEvaluation(evalSet.samples, results, evalSet.classes, grid), meta, grid };
}
