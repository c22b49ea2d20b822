// The explanation objectives as strategies over the one Grad-CAM pipeline (as
// pytorch-grad-cam's CAM methods override one method of a base): given the normalised cam
// c, the label y on the grid and what else the objective needs, each returns the
// per-sample explanation loss; losses.ts weights and normalises it like GRADIA's.
import type { tf } from '../../backend/tf.js';

export const OBJECTIVE_NAMES = ['gradia', 'haics', 'gaussian', 'res-g', 'res-l'] as const;
export type ObjectiveName = (typeof OBJECTIVE_NAMES)[number];

/** RES-L's imputation networks (RES's --transforms S1, S2, D1, D2). */
export const IMPUTATION_KINDS = ['s1', 's2', 'd1', 'd2'] as const;
export type ImputationKind = (typeof IMPUTATION_KINDS)[number];

/** What a run chooses (run spec: --objective, --imputation, --eta, --imputation-reg). */
export interface ObjectiveSettings {
  objective: ObjectiveName;
  imputation: ImputationKind;
  /** RES's slack: the robust term is relu(term - eta). */
  eta: number;
  /** RES-L's regulariser weight: reg * mean((h - y+)^2). */
  imputationReg: number;
}

export const DEFAULT_OBJECTIVE: ObjectiveSettings = { objective: 'gradia', imputation: 's1', eta: 0, imputationReg: 0 };

/**
 * The robust term's constants of one GLOBAL batch (all replicas' attention samples),
 * computed before the loss and held constant in it (no gradient flows through them).
 */
export interface RobustConstants {
  /** RES's threshold a */
  threshold: number;
  /** 1 when the batch's robust term exceeds eta (relu passes), else 0 */
  gate: 0 | 1;
  /**
   * globalAttCount / (labelled pixels of the global batch): turns a sample's sum over its
   * labelled pixels into its share of RES's batch mean under the per-sample normalisation.
   */
  pixelScale: number;
  eta: number;
}

export interface ObjectiveBatch {
  /** min-max normalised Grad-CAM [n, G, G] (differentiable) */
  cam: tf.Tensor3D;
  /** the label y, n*G*G: {-1, 0, 1} (RES) or [0, 1] (GRADIA's blurred targets) */
  target: Float32Array;
  n: number;
  grid: number;
  /** the micro-batch's images [n, S, S, 3] (S2, D2 read them) */
  images: tf.Tensor4D;
  /** full-resolution positive masks [n, S, S] as 0/1 (RES-L only; null otherwise) */
  masks: Float32Array | null;
  /** per global batch (RES-G, RES-L only) */
  robust: RobustConstants | null;
  /** RES-L: the imputation network's variables */
  imputation: ImputationParams | null;
  settings: ObjectiveSettings;
}

export interface ImputationParams {
  kind: ImputationKind;
  /** by key (RES's module names: imp.weight, imp_conv1.weight, ...), tfjs layouts */
  vars: Map<string, tf.Variable>;
}

export interface Objective {
  readonly name: ObjectiveName;
  /** needs the global threshold pass (RobustConstants) before its loss */
  readonly robust: boolean;
  /** needs the full-resolution positive masks */
  readonly needsMasks: boolean;
  /** per-sample explanation loss [n]; rows of samples without a map are ignored by the caller */
  perSample(b: ObjectiveBatch): tf.Tensor1D;
}
