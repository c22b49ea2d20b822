/**
 * `gradia-dist assess`: stand-in for the human judges of the phase-1 model. The caller
 * (the CLI's model loading) supplies `evaluate`; this prints the 2x2 matrix and writes
 * reasonablity_val.json.
 */
import { assessModel, DEFAULT_TAU, formatMatrix, type AssessOptions, type AssessResult } from '../data/assess.js';

export { DEFAULT_TAU };

export async function assessCommand(opts: AssessOptions): Promise<AssessResult> {
  const r = await assessModel(opts);
  for (const w of r.warnings) console.warn(`warning: ${w}`);
  const n = Object.keys(r.labels).length;
  const iouVals = Object.values(r.ious);
  const judge = opts.human ? `human judgements from ${opts.human}` : `Grad-CAM IoU >= ${opts.tau} with the human map`;
  console.log(`assess: ${n} validation images judged by ${judge}`);
  if (iouVals.length) console.log(`  mean IoU ${(iouVals.reduce((a, b) => a + b, 0) / iouVals.length).toFixed(4)}`);
  console.log(formatMatrix(r.matrix));
  console.log(`wrote ${r.file}`);
  return r;
}
