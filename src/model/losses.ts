// GRADIA phase-2 losses with GLOBAL normalisation (see docs/model.md):
//   task = sum_i predWeight_i * CE_i / globalBatch
//   att  = attentionWeight * sum_{i: attWeight_i > 0} attWeight_i * L_i / globalAttCount
// with L_i the objective's per-sample loss (src/model/objectives; GRADIA's: mean_grid |norm(cam_i) - target_i|)
// so that the sum over micro-batches / workers of their losses (and gradients) equals
// the whole batch's.
import { tf } from '../backend/tf.js';
import { gradCam, minMaxNormalise } from './gradcam.js';
import { forward, head } from './resnet.js';
import { DEFAULT_OBJECTIVE, objectiveFor } from './objectives/index.js';
import { meanAbs } from './objectives/terms.js';
import type { CamMode, Model, Normaliser, ObjectiveContext } from './types.js';

export interface LossTensors {
  loss: tf.Scalar; // normalised, differentiable
  taskSum: tf.Scalar; // sum_i predWeight_i * CE_i
  attSum: tf.Scalar; // sum_i attWeight_i * L1_i
}

export interface LossInputs {
  x: tf.Tensor4D;
  labels: Int32Array;
  predWeight: Float32Array;
  attWeight: Float32Array;
  targets: Float32Array; // n*G*G
  /** full-resolution positive masks n*S*S (RES-L) */
  masks?: Float32Array | null;
  /** layer4 output of x, when the caller ran the backbone itself (checkpointed gradients); else gradiaLoss runs the forward */
  features?: tf.Tensor4D;
}

/** Per-sample cross-entropy [N]. */
export function crossEntropy(logits: tf.Tensor2D, onehot: tf.Tensor2D): tf.Tensor1D {
  return tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), onehot), 1)) as tf.Tensor1D;
}

/** Per-sample L1 between the min-max normalised cam and the target [N]. */
export function attentionL1(cam: tf.Tensor3D, target: tf.Tensor3D): tf.Tensor1D {
  return meanAbs(minMaxNormalise(cam), target);
}

/** Training forward (unless `inp.features` is given) + losses of one micro-batch (call inside a gradient tape). */
export function gradiaLoss(model: Model, inp: LossInputs, norm: Normaliser, opts: { attentionWeight: number; cam: CamMode; freezeBn?: boolean; objective?: ObjectiveContext }): LossTensors {
  const { logits, features } = inp.features ? { features: inp.features, logits: head(model, inp.features) } : forward(model, inp.x, { training: true, freezeBn: opts.freezeBn });
  const n = inp.labels.length;
  const [, g] = features.shape;
  const onehot = tf.oneHot(tf.tensor1d(inp.labels, 'int32'), model.numClasses).toFloat() as tf.Tensor2D;
  const ce = crossEntropy(logits, onehot);
  const taskSum = tf.sum(tf.mul(ce, tf.tensor1d(inp.predWeight))) as tf.Scalar;
  let attSum: tf.Scalar = tf.scalar(0);
  const hasAtt = inp.attWeight.some((a) => a > 0);
  if (hasAtt) {
    const aw = inp.attWeight.map((a) => (a > 0 ? a : 0));
    const cam = gradCam(model, features, onehot, opts.cam);
    const ctx = opts.objective ?? { settings: DEFAULT_OBJECTIVE, imputation: null, robust: null };
    const perSample = objectiveFor(ctx.settings.objective).perSample({
      cam: minMaxNormalise(cam), target: inp.targets, n, grid: g, images: inp.x, masks: inp.masks ?? null,
      robust: ctx.robust ?? null, imputation: ctx.imputation, settings: ctx.settings,
    });
    attSum = tf.sum(tf.mul(perSample, tf.tensor1d(aw))) as tf.Scalar;
  }
  let loss = tf.div(taskSum, norm.globalBatch) as tf.Scalar;
  if (hasAtt && norm.globalAttCount > 0 && opts.attentionWeight !== 0) {
    loss = tf.add(loss, tf.mul(attSum, opts.attentionWeight / norm.globalAttCount)) as tf.Scalar;
  }
  return { loss, taskSum, attSum };
}
