/**
 * Reasonability labels (`reasonablity_val.json`, the original's spelling): a human's
 * verdict on the phase-1 model's attention for a validation image, crossed with whether
 * its prediction was right. They set the per-sample (pred, att) loss weights in phase 2.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GradiaInputError } from '../util/errors.js';
import { keyOf } from './attention.js';

export const REASONABILITY_FILE = 'reasonablity_val.json';

export const REASONABILITY_LABELS = ['Reasonable Accurate', 'Unreasonable Accurate', 'Reasonable Inaccurate', 'Unreasonable Inaccurate'] as const;
export type ReasonabilityLabel = (typeof REASONABILITY_LABELS)[number];

/**
 * (pred, att) weights of an image WITH a human map, by its label, exactly as GRADIA.py:
 * Unreasonable Inaccurate (1, 1), Unreasonable Accurate (0.4, 1.6),
 * Reasonable Inaccurate (0.8, 0.2); Reasonable Accurate and no label keep the default
 * (1, 0). Images without a map always get (1, 0).
 */
export function weightsFor(label: ReasonabilityLabel | undefined): { predWeight: number; attWeight: number } {
  switch (label) {
    case 'Unreasonable Inaccurate':
      return { predWeight: 1.0, attWeight: 1.0 };
    case 'Unreasonable Accurate':
      return { predWeight: 0.4, attWeight: 1.6 };
    case 'Reasonable Inaccurate':
      return { predWeight: 0.8, attWeight: 0.2 };
    default:
      return { predWeight: 1.0, attWeight: 0.0 };
  }
}

export function isLabel(s: unknown): s is ReasonabilityLabel {
  return typeof s === 'string' && (REASONABILITY_LABELS as readonly string[]).includes(s);
}

/**
 * Read `<dataDir>/reasonablity_val.json` ({ file name: label }); keys are reduced to their
 * base name. Absent file -> empty map (every map then has the default weights (1, 0)).
 * An unknown label is an error naming it and the file.
 */
export function readReasonability(dataDir: string): { labels: Map<string, ReasonabilityLabel>; file: string | null } {
  const file = path.join(dataDir, REASONABILITY_FILE);
  if (!fs.existsSync(file)) return { labels: new Map(), file: null };
  let obj: unknown;
  try {
    obj = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new GradiaInputError(file, `not valid JSON: ${(e as Error).message}`);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new GradiaInputError(file, 'expected an object { "<file name>": "<label>" }');
  }
  const labels = new Map<string, ReasonabilityLabel>();
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    if (!isLabel(v)) {
      throw new GradiaInputError(file, `unknown label ${JSON.stringify(v)} for ${k} (expected one of ${REASONABILITY_LABELS.map((l) => `"${l}"`).join(', ')})`);
    }
    labels.set(keyOf(k), v);
  }
  return { labels, file };
}

/** The label of a prediction judged reasonable or not. */
export function labelOf(reasonable: boolean, accurate: boolean): ReasonabilityLabel {
  return `${reasonable ? 'Reasonable' : 'Unreasonable'} ${accurate ? 'Accurate' : 'Inaccurate'}` as ReasonabilityLabel;
}
