/**
 * Reasonability labels (`reasonablity_val.json`, the original's spelling): a human's
 * verdict on the phase-1 model's attention for a validation image, crossed with whether
 * its prediction was right. They set the per-sample (pred, att) loss weights in phase 2.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GradiaInputError } from '../util/errors.js';
import { keyOf } from './attention.js';
import { ByteReader, readString, readValue } from './json_stream.js';

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
 * A UTF-8 byte order mark is accepted (as in the attention files). An unknown label is an
 * error naming it and the file; so is one image given two different labels (a repeated
 * key, or two paths with the same base name), which JSON.parse would settle silently by
 * keeping the last. The same label twice is accepted.
 */
export function readReasonability(dataDir: string): { labels: Map<string, ReasonabilityLabel>; file: string | null } {
  const file = path.join(dataDir, REASONABILITY_FILE);
  if (!fs.existsSync(file)) return { labels: new Map(), file: null };
  const labels = new Map<string, ReasonabilityLabel>();
  const keyFor = new Map<string, string>(); // base name -> the key that gave its label
  const r = new ByteReader(file);
  try {
    const first = r.peekNonWs();
    if (first < 0) r.fail('the file is empty');
    if (first !== 0x7b) {
      readValue(r);
      throw new GradiaInputError(file, 'expected an object { "<file name>": "<label>" }');
    }
    r.next();
    if (r.peekNonWs() === 0x7d) r.next();
    else {
      for (;;) {
        const k = readString(r);
        r.expect(0x3a);
        const v = readValue(r, 1);
        if (!isLabel(v)) {
          throw new GradiaInputError(file, `unknown label ${JSON.stringify(v)} for ${k} (expected one of ${REASONABILITY_LABELS.map((l) => `"${l}"`).join(', ')})`);
        }
        const key = keyOf(k);
        const had = labels.get(key);
        if (had !== undefined && had !== v) {
          const other = keyFor.get(key)!;
          const where = other === k ? `${JSON.stringify(k)} appears twice` : `${JSON.stringify(other)} and ${JSON.stringify(k)} name the same image`;
          throw new GradiaInputError(file, `${key} has two different labels, "${had}" and "${v}" (${where}); keep one`);
        }
        labels.set(key, v);
        keyFor.set(key, k);
        const d = r.peekNonWs();
        r.next();
        if (d === 0x7d) break;
        if (d !== 0x2c) r.fail(`expected ',' or '}', found ${d < 0 ? 'end of file' : `'${String.fromCharCode(d)}'`}`);
      }
    }
    if (r.peekNonWs() >= 0) r.fail('unexpected data after the object');
  } finally {
    r.close();
  }
  return { labels, file };
}

/** The label of a prediction judged reasonable or not. */
export function labelOf(reasonable: boolean, accurate: boolean): ReasonabilityLabel {
  return `${reasonable ? 'Reasonable' : 'Unreasonable'} ${accurate ? 'Accurate' : 'Inaccurate'}` as ReasonabilityLabel;
}
