// `gradia-dist predict --arch A --weights W.safetensors [--num-classes N] IMAGE... [--json]`
// Eval mode; per image: logits, predicted class and the raw Grad-CAM of the predicted
// class (before ReLU and normalisation) on the layer4 grid (S/32 x S/32), [y][x].
// Images go through the training data pipeline (decode, PIL-bilinear resize to S x S,
// ImageNet normalisation). When W has a gradia-dist checkpoint sidecar beside it, the
// sidecar's arch, class count and input size S are the model's; else --arch,
// --num-classes (or fc.weight's rows) and S = 224, torchvision's size.
import path from 'node:path';
import { initBackend } from '../backend/select.js';
import type { BackendRequest } from '../backend/select.js';
import { GradiaInputError } from '../util/errors.js';
import { ImagePipeline } from '../data/pipeline.js';
import { checkArch, createModel, disposeModel } from '../model/resnet.js';
import { loadWeights, readSafetensors } from '../model/safetensors.js';
import { sidecarOf } from '../coordinator/checkpoint.js';
import { evaluateBatch } from '../model/train.js';
import { gridOf } from '../config/geometry.js';

export interface PredictOptions {
  arch?: string;
  weights: string;
  numClasses?: number;
  images: string[];
  json: boolean;
  backend: BackendRequest | string;
}

export interface Prediction { image: string; pred: number; logits: number[]; cam: number[][] }

/** Input size of weights without a checkpoint sidecar (torchvision's ImageNet models). */
const DEFAULT_INPUT_SIZE = 224;
const DEFAULT_ARCH = 'resnet50';
const BATCH = 4;

/** The model predict builds: from the checkpoint sidecar beside the weights, else the flags. */
export function predictModelSpec(opts: Pick<PredictOptions, 'arch' | 'weights' | 'numClasses'>): { arch: string; numClasses: number; inputSize: number } {
  const meta = sidecarOf(opts.weights);
  if (meta) {
    if (opts.arch !== undefined && opts.arch !== meta.arch) throw new GradiaInputError(opts.weights, `is a ${meta.arch} checkpoint (its sidecar says so), but --arch is ${opts.arch}`);
    return { arch: meta.arch, numClasses: opts.numClasses ?? meta.numClasses, inputSize: meta.inputSize };
  }
  let numClasses = opts.numClasses;
  if (numClasses === undefined) {
    const fc = readSafetensors(opts.weights).get('fc.weight');
    if (!fc || fc.shape.length !== 2) throw new GradiaInputError(opts.weights, "no 2-D 'fc.weight' to take the class count from (give --num-classes)");
    numClasses = fc.shape[0];
  }
  return { arch: opts.arch ?? DEFAULT_ARCH, numClasses, inputSize: DEFAULT_INPUT_SIZE };
}

/** Runs the prediction and returns the results (predictCommand prints them). */
export async function predict(opts: PredictOptions): Promise<{ backend: string; arch: string; inputSize: number; results: Prediction[] }> {
  if (!opts.images.length) throw new GradiaInputError(null, 'predict needs at least one image');
  const spec = predictModelSpec(opts);
  const arch = checkArch(spec.arch);
  const { numClasses, inputSize: S } = spec;
  const backend = await initBackend(opts.backend as BackendRequest);
  process.stderr.write(`backend: ${backend.name} (${backend.reason})\n`);
  const model = createModel(arch, numClasses, 0);
  const pipeline = await ImagePipeline.create({ threads: 1, size: S, cacheBytes: 0 });
  try {
    loadWeights(model, opts.weights);
    const results: Prediction[] = [];
    const g = gridOf(S);
    for (let b = 0; b < opts.images.length; b += BATCH) {
      const files = opts.images.slice(b, b + BATCH);
      const x = await pipeline.load(files, files.map(() => false));
      const r = evaluateBatch(model, x, files.length, S);
      files.forEach((f, i) => {
        const cam: number[][] = [];
        for (let y = 0; y < g; y++) cam.push(Array.from(r.cams.subarray((i * g + y) * g, (i * g + y + 1) * g)));
        results.push({ image: f, pred: r.pred[i], logits: Array.from(r.logits.subarray(i * numClasses, (i + 1) * numClasses)), cam });
      });
    }
    return { backend: backend.name, arch, inputSize: S, results };
  } finally {
    await pipeline.close();
    disposeModel(model);
  }
}

export async function predictCommand(opts: PredictOptions): Promise<void> {
  const out = await predict(opts);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ arch: out.arch, inputSize: out.inputSize, weights: opts.weights, backend: out.backend, predictions: out.results })}\n`);
    return;
  }
  for (const p of out.results) {
    console.log(`${path.basename(p.image)}: class ${p.pred}  logits [${p.logits.map((v) => v.toFixed(4)).join(', ')}]`);
    for (const row of p.cam) console.log(`  ${row.map((v) => v.toExponential(2).padStart(10)).join(' ')}`);
  }
}
