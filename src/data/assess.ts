/**
 * The stand-in human judge: labels each validation image Reasonable/Unreasonable x
 * Accurate/Inaccurate for phase 2's sample weights and writes `reasonablity_val.json`.
 * Reasonable = the model's Grad-CAM IoU with the human map (as in evaluation) >= tau;
 * or, with a human assessment file `[{img, label: reasonable|unreasonable}]`, a person's
 * verdict. Accurate = the model's prediction is the true class.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GradiaInputError } from '../util/errors.js';
import { keyOf } from './attention.js';
import { camIoU } from './iou.js';
import { buildEvalSet } from './phase_dataset.js';
import { labelOf, REASONABILITY_FILE, type ReasonabilityLabel } from './reasonability.js';
import type { EvalSample } from './types.js';

export const DEFAULT_TAU = 0.25;

export interface ModelOutput {
  /** predicted class */
  pred: number;
  /** raw Grad-CAM of the predicted class, grid x grid */
  cam: Float32Array;
  grid: number;
}

export interface AssessOptions {
  dataDir: string;
  /** IoU threshold for "reasonable" (model judge) */
  tau: number;
  /** human assessment file: [{img, label: "reasonable" | "unreasonable"}] */
  human?: string;
  /** run the model on samples (predictions and predicted-class Grad-CAMs), in order */
  evaluate: (samples: EvalSample[]) => Promise<ModelOutput[]>;
}

/** The original's 2x2 matrix: rows accurate / inaccurate, columns reasonable / unreasonable. */
export type ReasonabilityMatrix = [[number, number], [number, number]];

export interface AssessResult {
  labels: Record<string, ReasonabilityLabel>;
  matrix: ReasonabilityMatrix;
  /** IoU per file name (model judge only) */
  ious: Record<string, number>;
  file: string;
  warnings: string[];
}

/** Read `[{img, label: reasonable|unreasonable}]` into file name -> reasonable. */
export function readHumanAssessment(file: string): Map<string, boolean> {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8').replace(/^\ufeff/, '')); // a UTF-8 BOM is fine, as in the label files
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new GradiaInputError(file, code ? `cannot read: ${code}` : `not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(v)) throw new GradiaInputError(file, 'expected a JSON list of {"img", "label"} entries');
  const out = new Map<string, boolean>();
  v.forEach((e, i) => {
    if (e === null || typeof e !== 'object' || typeof (e as { img?: unknown }).img !== 'string') {
      throw new GradiaInputError(file, `entry ${i} is not an object with an "img" file name`);
    }
    const { img, label } = e as { img: string; label?: unknown };
    const key = keyOf(img);
    if (key === '') return; // the original skips entries without a file name
    if (label !== 'reasonable' && label !== 'unreasonable') {
      throw new GradiaInputError(file, `unknown label ${JSON.stringify(label)} for ${img} (expected "reasonable" or "unreasonable")`);
    }
    const had = out.get(key);
    if (had !== undefined && had !== (label === 'reasonable')) {
      throw new GradiaInputError(file, `${key} is judged both "reasonable" and "unreasonable" (entry ${i}: ${img}); keep one`);
    }
    out.set(key, label === 'reasonable');
  });
  return out;
}

export function matrixOf(labels: Iterable<ReasonabilityLabel>): ReasonabilityMatrix {
  const m: ReasonabilityMatrix = [
    [0, 0],
    [0, 0],
  ];
  for (const l of labels) {
    const row = l.endsWith('Inaccurate') ? 1 : 0;
    const col = l.startsWith('Unreasonable') ? 1 : 0;
    m[row][col]++;
  }
  return m;
}

export function formatMatrix(m: ReasonabilityMatrix): string {
  const w = Math.max(10, ...m.flat().map((v) => String(v).length));
  const pad = (s: string | number): string => String(s).padStart(w);
  return [`${''.padEnd(10)} ${pad('reasonable')} ${pad('unreasonable')}`, `${'accurate'.padEnd(10)} ${pad(m[0][0])} ${pad(m[0][1])}`, `${'inaccurate'.padEnd(10)} ${pad(m[1][0])} ${pad(m[1][1])}`].join('\n');
}

/** Judge the model on the validation split and write `<dataDir>/reasonablity_val.json`. */
export async function assessModel(opts: AssessOptions): Promise<AssessResult> {
  if (!opts.human && !(opts.tau >= 0 && opts.tau <= 1)) throw new GradiaInputError(null, `assess: --tau must be in [0, 1] (got ${opts.tau})`);
  const ev = await buildEvalSet(opts.dataDir, 'val');
  const warnings = [...ev.warnings];
  const human = opts.human ? readHumanAssessment(opts.human) : null;
  let samples: EvalSample[];
  if (human) {
    const byName = new Map(ev.samples.map((s) => [s.fileName, s]));
    let missing = 0;
    for (const k of human.keys()) if (!byName.has(k)) missing++;
    if (missing > 0 && missing === human.size) throw new GradiaInputError(opts.human!, `none of its ${human.size} entries names a validation image`);
    if (missing > 0) warnings.push(`${opts.human}: ${missing} entr${missing === 1 ? 'y names' : 'ies name'} no validation image, ignored`);
    samples = ev.samples.filter((s) => human.has(s.fileName));
  } else {
    samples = ev.samples.filter((s) => s.humanMap !== null);
    if (samples.length === 0) throw new GradiaInputError(path.join(path.resolve(opts.dataDir), 'attention_val.json'), 'no validation image has a human map to judge against');
  }
  const outs = samples.length ? await opts.evaluate(samples) : [];
  if (outs.length !== samples.length) throw new Error(`assess: evaluate returned ${outs.length} results for ${samples.length} samples`);
  const labels: Record<string, ReasonabilityLabel> = {};
  const ious: Record<string, number> = {};
  samples.forEach((s, i) => {
    const o = outs[i];
    const accurate = o.pred === s.label;
    let reasonable: boolean;
    if (human) reasonable = human.get(s.fileName)!;
    else {
      const iou = camIoU(o.cam, o.grid, s.humanMap!);
      ious[s.fileName] = iou;
      reasonable = iou >= opts.tau;
    }
    labels[s.fileName] = labelOf(reasonable, accurate);
  });
  const file = path.join(path.resolve(opts.dataDir), REASONABILITY_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  fs.writeSync(fd, `${JSON.stringify(labels, null, 1)}\n`);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  return { labels, matrix: matrixOf(Object.values(labels)), ious, file, warnings };
}
