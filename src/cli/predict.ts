// `gradia-dist predict --arch A --weights W.safetensors [--num-classes N] IMAGE... [--json]`
// Eval mode; per image: logits, predicted class and the raw Grad-CAM of the predicted
// class (before ReLU and normalisation) on the layer4 grid (7x7 at 224 px), [y][x].
import path from 'node:path';
import sharp from 'sharp';
import { initBackend } from '../backend/select.js';
import type { BackendRequest } from '../backend/select.js';
import { GradiaInputError } from '../util/errors.js';
import { resizeBilinearPIL, normaliseInto } from '../data/resize.js';
import { checkArch, createModel, disposeModel } from '../model/resnet.js';
import { loadWeights, readSafetensors } from '../model/safetensors.js';
import { checkSidecarOf } from '../coordinator/checkpoint.js';
import { evaluateBatch } from '../model/train.js';

export interface PredictOptions {
  arch: string;
  weights: string;
  numClasses?: number;
  images: string[];
  json: boolean;
  backend: BackendRequest | string;
}

export interface Prediction { image: string; pred: number; logits: number[]; cam: number[][] }

const SIZE = 224;
const BATCH = 4;

/** Decodes an image to 224x224 RGB uint8 (PIL bilinear resize when it is another size). */
export async function loadImage224(file: string): Promise<Uint8Array> {
  let raw: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    raw = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new GradiaInputError(file, `cannot decode image (${(e as Error).message.split('\n')[0]})`);
  }
  const { width, height, channels } = raw.info;
  let rgb = new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength);
  if (channels !== 3) {
    const out = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) out[i * 3 + c] = rgb[i * channels + Math.min(c, channels - 1)];
    rgb = out;
  }
  return width === SIZE && height === SIZE ? rgb : resizeBilinearPIL(rgb, height, width, 3, SIZE, SIZE);
}

/** Runs the prediction and returns the results (predictCommand prints them). */
export async function predict(opts: PredictOptions): Promise<{ backend: string; results: Prediction[] }> {
  const arch = checkArch(opts.arch);
  if (!opts.images.length) throw new GradiaInputError(null, 'predict needs at least one image');
  checkSidecarOf(opts.weights);
  let numClasses = opts.numClasses;
  if (numClasses === undefined) {
    const fc = readSafetensors(opts.weights).get('fc.weight');
    if (!fc || fc.shape.length !== 2) throw new GradiaInputError(opts.weights, "no 2-D 'fc.weight' to take the class count from (give --num-classes)");
    numClasses = fc.shape[0];
  }
  const backend = await initBackend(opts.backend as BackendRequest);
  process.stderr.write(`backend: ${backend.name} (${backend.reason})\n`);
  const model = createModel(arch, numClasses, 0);
  try {
    loadWeights(model, opts.weights);
    const results: Prediction[] = [];
    const g = SIZE / 32;
    for (let b = 0; b < opts.images.length; b += BATCH) {
      const files = opts.images.slice(b, b + BATCH);
      const x = new Float32Array(files.length * SIZE * SIZE * 3);
      for (let i = 0; i < files.length; i++) normaliseInto(await loadImage224(files[i]), SIZE, SIZE, false, x, i * SIZE * SIZE * 3);
      const r = evaluateBatch(model, x, files.length, SIZE);
      files.forEach((f, i) => {
        const cam: number[][] = [];
        for (let y = 0; y < g; y++) cam.push(Array.from(r.cams.subarray((i * g + y) * g, (i * g + y + 1) * g)));
        results.push({ image: f, pred: r.pred[i], logits: Array.from(r.logits.subarray(i * numClasses!, (i + 1) * numClasses!)), cam });
      });
    }
    return { backend: backend.name, results };
  } finally {
    disposeModel(model);
  }
}

export async function predictCommand(opts: PredictOptions): Promise<void> {
  const out = await predict(opts);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ arch: opts.arch, weights: opts.weights, backend: out.backend, predictions: out.results })}\n`);
    return;
  }
  for (const p of out.results) {
    console.log(`${path.basename(p.image)}: class ${p.pred}  logits [${p.logits.map((v) => v.toFixed(4)).join(', ')}]`);
    for (const row of p.cam) console.log(`  ${row.map((v) => v.toExponential(2).padStart(10)).join(' ')}`);
  }
}
