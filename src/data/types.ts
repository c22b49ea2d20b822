/** Samples handed to the training and evaluation loops (ARCHITECTURE.md, Data). */
export interface TrainSample {
  path: string;
  fileName: string;
  label: number;
  /** grid x grid attention target in [0, 1] (max 1), or null when the image has none */
  target: Float32Array | null;
  predWeight: number;
  attWeight: number;
  /**
   * The human map at full resolution, > 0 where positive (RES-L's imputation input; set by
   * buildTrainSet only when asked for: `fullMasks`).
   */
  positiveMask?: HumanMap | null;
}

export interface HumanMap {
  h: number;
  w: number;
  /** row-major; > 0 where the human marked attention */
  data: Uint8Array;
}

export interface EvalSample {
  path: string;
  fileName: string;
  label: number;
  humanMap: HumanMap | null;
}
