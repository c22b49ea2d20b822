import type { tf } from '../backend/tf.js';
import type { ImputationParams, ObjectiveSettings, RobustConstants } from './objectives/types.js';

export type ArchName = 'resnet18' | 'resnet34' | 'resnet50' | 'tiny18' | 'tiny50';
export const ARCH_NAMES: readonly ArchName[] = ['resnet18', 'resnet34', 'resnet50', 'tiny18', 'tiny50'];

/** How a tensor is laid out; decides the torch <-> tfjs conversion and the init. */
export type TensorKind = 'conv' | 'bn_weight' | 'bn_bias' | 'running_mean' | 'running_var' | 'num_batches_tracked' | 'fc_weight' | 'fc_bias';

export interface TensorSpec {
  name: string; // torchvision state_dict key
  kind: TensorKind;
  shape: number[]; // tfjs layout (conv [kh, kw, in, out], fc weight [in, out])
  torchShape: number[]; // torch layout (conv OIHW, fc weight [out, in]); [] for num_batches_tracked
  isBuffer: boolean;
}

export interface Model {
  arch: ArchName;
  numClasses: number;
  /** Trainable parameters, state_dict order, tfjs layouts. */
  params: Map<string, tf.Variable>;
  /** running_mean / running_var / num_batches_tracked (float32), state_dict order. */
  buffers: Map<string, tf.Variable>;
  /** Every tensor of the state_dict in order (params and buffers interleaved as torch has them). */
  specs: TensorSpec[];
}

export interface ForwardResult {
  logits: tf.Tensor2D; // [N, numClasses]
  features: tf.Tensor4D; // layer4 output NHWC [N, G, G, C]
}

export interface TrainBatch {
  n: number;
  size: number; // input side S (multiple of 32)
  images: Float32Array; // n*S*S*3 NHWC, ImageNet-normalised
  labels: Int32Array;
  predWeight: Float32Array;
  attWeight: Float32Array;
  targets: Float32Array; // n*G*G, zeros where a sample has no map; values in [-1, 1] (< 0: "do not look here")
  /** full-resolution positive masks n*S*S as 0/1 (RES-L's imputation input); absent otherwise */
  masks?: Float32Array | null;
}

export interface Normaliser {
  globalBatch: number; // samples in the global batch (all workers, all micro-batches)
  globalAttCount: number; // samples with attWeight > 0 in the global batch
}

export type CamMode = 'closed' | 'autodiff';

export interface GradOptions {
  attentionWeight: number;
  cam: CamMode;
  /** Batch norm uses (and keeps) its running statistics while training. Default false. */
  freezeBn?: boolean;
  /** The explanation objective (default: GRADIA's L1, the loss gradia-dist always had). */
  objective?: ObjectiveContext;
}

/** The objective of a step: the run's settings, RES-L's network, the global batch's robust constants. */
export interface ObjectiveContext {
  settings: ObjectiveSettings;
  imputation: ImputationParams | null;
  robust?: RobustConstants | null;
}

export interface GradResult {
  /** Summed gradient of the globally normalised loss, flat in parameter order. */
  grads: Float32Array;
  /** sum_i predWeight_i * CE_i over the given micro-batches (task loss = this / globalBatch). */
  taskLossSum: number;
  /** sum_i attWeight_i * mean|norm(cam_i) - target_i| (att loss = attentionWeight * this / globalAttCount). */
  attLossSum: number;
  n: number;
  nAtt: number;
}

export interface EvalResult {
  logits: Float32Array; // n*numClasses
  pred: Int32Array; // n
  cams: Float32Array; // n*G*G raw Grad-CAM of the predicted class (no ReLU, no normalisation)
}
