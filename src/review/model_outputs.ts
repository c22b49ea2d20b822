/**
 * What the reviewed model says about each validation image — prediction, its softmax
 * probability and the raw G x G Grad-CAM of the predicted class — computed once by the
 * same evaluation path `evaluate` and `assess` use, and cached under the review folder
 * keyed by the checkpoint id (a new checkpoint of the same name is evaluated again).
 */
import fs from 'node:fs';
import path from 'node:path';
import { openCheckpointCluster } from '../coordinator/checkpoint_cluster.js';
import { checkSameClasses, readCheckpointMeta } from '../coordinator/checkpoint.js';
import { evaluateSamples } from '../coordinator/evaluation.js';
import type { RuntimeConfig } from '../coordinator/train.js';
import { gridOf } from '../config/geometry.js';
import type { EvalSample } from '../data/types.js';
import { atomicWrite } from '../model/safetensors.js';

export const OUTPUTS_FORMAT = 'gradia-dist-review-outputs/1';

export interface ModelOutputItem {
  image: string;
  label: number;
  pred: number;
  prob: number;
  cam: number[];
}

export interface ModelOutputs {
  format: typeof OUTPUTS_FORMAT;
  modelName: string;
  checkpointId: string;
  classes: string[];
  inputSize: number;
  grid: number;
  /** one per validation image, in the evaluation set's order */
  items: ModelOutputItem[];
}

export const outputsFile = (reviewDir: string, checkpointId: string): string => path.join(reviewDir, `outputs-${checkpointId}.json`);

/** Softmax probability of class `k` (max-shifted, in float64). */
export function softmaxProb(logits: ArrayLike<number>, k: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return Math.exp(logits[k]! - max) / sum;
}

function readCached(file: string, checkpointId: string, samples: EvalSample[]): ModelOutputs | null {
  let v: ModelOutputs;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8')) as ModelOutputs;
  } catch {
    return null; // absent or unreadable: computed again
  }
  if (v?.format !== OUTPUTS_FORMAT || v.checkpointId !== checkpointId || !Array.isArray(v.items) || v.items.length !== samples.length) return null;
  const same = samples.every((s, i) => v.items[i]!.image === s.fileName && v.items[i]!.label === s.label && v.items[i]!.cam?.length === v.grid * v.grid);
  return same ? v : null;
}

/**
 * The cached outputs of checkpoint `modelName` on `samples` (the validation set), or runs
 * the model over them once and caches the result. `log` hears whether it ran.
 */
export async function modelOutputs(o: {
  /** asked only when the model has to run (choosing a backend loads it) */
  runtime: () => Promise<RuntimeConfig>; modelDir: string; modelName: string; testBatch: number; reviewDir: string;
  classes: string[]; samples: EvalSample[]; log?: (line: string) => void;
}): Promise<ModelOutputs> {
  const meta = readCheckpointMeta(o.modelDir, o.modelName);
  checkSameClasses(o.modelDir, o.modelName, meta.classes, o.classes);
  const file = outputsFile(o.reviewDir, meta.id);
  const cached = readCached(file, meta.id, o.samples);
  if (cached) {
    o.log?.(`review: model outputs of ${o.modelName} (checkpoint ${meta.id}) from ${file}`);
    return cached;
  }
  o.log?.(`review: running ${o.modelName} over ${o.samples.length} validation images once`);
  const { cluster } = await openCheckpointCluster(await o.runtime(), o.modelDir, o.modelName, o.testBatch);
  let results;
  try {
    results = await evaluateSamples(cluster, o.samples, o.testBatch);
  } finally {
    await cluster.close();
  }
  const out: ModelOutputs = {
    format: OUTPUTS_FORMAT,
    modelName: o.modelName,
    checkpointId: meta.id,
    classes: meta.classes,
    inputSize: meta.inputSize,
    grid: gridOf(meta.inputSize),
    items: o.samples.map((s, i) => ({ image: s.fileName, label: s.label, pred: results[i]!.pred, prob: softmaxProb(results[i]!.logits, results[i]!.pred), cam: Array.from(results[i]!.cam) })),
  };
  atomicWrite(file, Buffer.from(`${JSON.stringify(out)}\n`));
  return out;
}
