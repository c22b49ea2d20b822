/** Samples handed to the training and evaluation loops (ARCHITECTURE.md, Data). */

/**
 * Which grid target `buildTrainSet` makes from a human map (docs/labels.md):
 * - `gradia`: GRADIA's INTER_AREA resize + 3x3 blur + /max of the positive map, values in
 *   [0, 1] with max 1 (negative labels play no part);
 * - `res`: RES's rule, INTER_NEAREST of the positive and the negative map separately
 *   (`uint8(map) * 255`, then / 255), positive minus negative: values in {-1, 0, 1}.
 */
export type TargetKind = 'gradia' | 'res';

export interface TrainSample {
  path: string;
  fileName: string;
  label: number;
  /**
   * grid x grid attention target (row-major), or null when the image has none (no map, an
   * all-zero one, or one left out by --label-budget). Values per `TargetKind`: in [0, 1]
   * for `gradia`, in {-1, 0, 1} for `res` (-1: "do not look here").
   */
  target: Float32Array | null;
  /**
   * RES-L's input: the positive human mask (`y_full > 0`) at the input resolution, S x S
   * row-major, 1 inside and 0 elsewhere (INTER_NEAREST from the map's own size). Present
   * only when `buildTrainSet` was asked for it (`fullMask: true`) and `target` is not null.
   * Flip it with the image (`flipMaskU8(mask, S, S)`).
   */
  fullMask?: Uint8Array | null;
  predWeight: number;
  attWeight: number;
}

export interface HumanMap {
  h: number;
  w: number;
  /** row-major; > 0 where the human marked attention (the value x 255) */
  data: Uint8Array;
  /**
   * row-major, same size; > 0 where the human marked "do not look here" (a -1 in GRADIA's
   * JSON, a `counterfactual` CSV map of RES). Absent when the map has no negative label.
   */
  negative?: Uint8Array;
}

export interface EvalSample {
  path: string;
  fileName: string;
  label: number;
  humanMap: HumanMap | null;
}
