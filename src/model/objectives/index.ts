// The objective of a run by name (see types.ts and docs/objectives.md).
import { gaussianObjective } from './gaussian.js';
import { gradiaObjective } from './gradia.js';
import { haicsObjective } from './haics.js';
import { resGObjective } from './res_g.js';
import { resLObjective } from './res_l.js';
import type { Objective, ObjectiveName } from './types.js';

export * from './types.js';
export { robustThreshold } from './threshold.js';
export { robustConstants, packRecords, unpackRecords, recordLength, type RobustRecord } from './robust.js';
export { attachImputation, imputationSpecs, isImputationKey } from './imputation.js';

const OBJECTIVES: Record<ObjectiveName, Objective> = {
  gradia: gradiaObjective,
  haics: haicsObjective,
  gaussian: gaussianObjective,
  'res-g': resGObjective,
  'res-l': resLObjective,
};

export function objectiveFor(name: ObjectiveName): Objective {
  const o = OBJECTIVES[name];
  if (!o) throw new Error(`unknown objective '${name}'`);
  return o;
}
