// Gradient accumulation over micro-batches and batched evaluation.
import { tf } from '../backend/tf.js';
import { trimBackendPool } from '../backend/pool.js';
import { readTensorInto } from '../backend/read_into.js';
import { withWasmMemoryHint } from '../backend/select.js';
import { GradiaInputError } from '../util/errors.js';
import { paramLayout } from './flat.js';
import { gradCamClosed } from './gradcam.js';
import { recomputedGradients } from './recompute.js';
import { forward } from './resnet.js';
import type { EvalResult, GradOptions, GradResult, Model, Normaliser, TrainBatch } from './types.js';
import { FEATURE_STRIDE, gridOf, isValidInputSize } from '../config/geometry.js';

function checkBatch(b: TrainBatch): void {
  const bad = (what: string) => { throw new GradiaInputError(null, `training micro-batch: ${what}`); };
  if (!isValidInputSize(b.size)) bad(`input size ${b.size} is not a multiple of ${FEATURE_STRIDE}`);
  const g = gridOf(b.size);
  if (b.images.length !== b.n * b.size * b.size * 3) bad(`images hold ${b.images.length} values, expected ${b.n}*${b.size}*${b.size}*3`);
  if (b.labels.length !== b.n || b.predWeight.length !== b.n || b.attWeight.length !== b.n) bad('labels / predWeight / attWeight must have n entries');
  if (b.targets.length !== b.n * g * g) bad(`targets hold ${b.targets.length} values, expected n*${g}*${g}`);
  if (b.masks && b.masks.length !== b.n * b.size * b.size) bad(`masks hold ${b.masks.length} values, expected n*${b.size}*${b.size}`);
}

/**
 * Training forward + backward over the micro-batches, accumulating the gradient of the
 * globally normalised GRADIA loss (see losses.ts) into one flat Float32Array in parameter
 * order. BN running buffers are updated once per micro-batch, as torch would for that
 * micro-batch. Summing the results over workers gives the whole batch's gradient. Each
 * micro-batch keeps only the blocks' outputs and recomputes one block at a time in the
 * backward pass (recompute.ts): the same values as one tape over the whole network, bit for
 * bit, at a fraction of its memory.
 * `out` (at least as long as the flat parameters) receives the gradients instead of a fresh array:
 * a step's 4-100 MB of new memory costs page faults and garbage collection every step.
 */
export function computeGradients(model: Model, microBatches: TrainBatch[], norm: Normaliser, opts: GradOptions, out?: Float32Array): GradResult {
  const layout = paramLayout(model);
  if (out && out.length < layout.total) throw new RangeError(`computeGradients: out holds ${out.length} values, the parameters ${layout.total}`);
  const grads = out ? out.subarray(0, layout.total) : new Float32Array(layout.total);
  const written = new Uint8Array(layout.names.length);
  const idx = new Map<string, number>();
  layout.names.forEach((name, i) => idx.set(name, i));
  let taskLossSum = 0;
  let attLossSum = 0;
  let n = 0;
  let nAtt = 0;
  // once per step: what the last step did not reuse goes (keeps the pool flat across epochs)
  trimBackendPool();
  for (const mb of microBatches) {
    if (mb.n === 0) continue;
    checkBatch(mb);
    withWasmMemoryHint(() => {
      const x = tf.tensor4d(mb.images, [mb.n, mb.size, mb.size, 3]);
      try {
        const sums = recomputedGradients(model, { x, labels: mb.labels, predWeight: mb.predWeight, attWeight: mb.attWeight, targets: mb.targets, masks: mb.masks }, norm, opts, (name, g) => {
          const i = idx.get(name)!;
          readTensorInto(g, grads, layout.offsets[i], written[i] === 1);
          written[i] = 1;
        });
        taskLossSum += sums.taskSum;
        attLossSum += sums.attSum;
      } finally {
        x.dispose();
      }
    }, `a training micro-batch of ${mb.n}`);
    n += mb.n;
    for (let i = 0; i < mb.n; i++) if (mb.attWeight[i] > 0) nAtt++;
  }
  if (out) {
    // a parameter without gradient (none of its outputs reached the loss) gets zeros, as in a fresh array
    layout.names.forEach((_, i) => { if (!written[i]) grads.fill(0, layout.offsets[i], layout.offsets[i] + layout.sizes[i]); });
  }
  return { grads, taskLossSum, attLossSum, n, nAtt };
}

/**
 * Images per eval-mode forward when the caller does not say: the training default
 * --micro-batch, so evaluation costs no more memory than a training micro-batch whatever
 * --test-batch is (ResNet-50 at 224 px: 0.28 GB of live tensors at 16, measured).
 */
export const EVAL_MICRO_BATCH = 16;

/**
 * Eval-mode forward: logits, predicted class and the raw Grad-CAM (no ReLU, no
 * normalisation) of the predicted class, n*G*G row-major [y][x]. Runs in forwards of at most
 * `microBatch` images (a sample's outputs do not depend on the others in eval mode, so the
 * split changes no value), each freed before the next.
 */
export function evaluateBatch(model: Model, images: Float32Array, n: number, size: number, opts: { microBatch?: number } = {}): EvalResult {
  if (!isValidInputSize(size)) throw new GradiaInputError(null, `input size ${size} is not a multiple of ${FEATURE_STRIDE}`);
  if (images.length !== n * size * size * 3) throw new GradiaInputError(null, `images hold ${images.length} values, expected ${n}*${size}*${size}*3`);
  const mb = Math.max(1, Math.floor(opts.microBatch ?? EVAL_MICRO_BATCH));
  const C = model.numClasses;
  const GG = gridOf(size) ** 2;
  const out: EvalResult = { logits: new Float32Array(n * C), pred: new Int32Array(n), cams: new Float32Array(n * GG) };
  const px = size * size * 3;
  trimBackendPool();
  for (let a = 0; a < n; a += mb) {
    const k = Math.min(mb, n - a);
    withWasmMemoryHint(() => {
      const [logits, pred, cams] = tf.tidy(() => {
        const x = tf.tensor4d(images.subarray(a * px, (a + k) * px), [k, size, size, 3]);
        const f = forward(model, x, { training: false });
        const p = tf.argMax(f.logits, 1).toInt();
        const onehot = tf.oneHot(p, model.numClasses).toFloat() as tf.Tensor2D;
        return [f.logits, p, gradCamClosed(model, f.features, onehot)];
      });
      try {
        // readTensorInto copies without marking the buffer escaped, so it goes back to the pool
        readTensorInto(logits, out.logits, a * C, false);
        readTensorInto(cams, out.cams, a * GG, false);
        out.pred.set(pred.dataSync(), a);
      } finally {
        logits.dispose();
        pred.dispose();
        cams.dispose();
      }
    }, `an evaluation batch of ${k}`);
  }
  return out;
}
