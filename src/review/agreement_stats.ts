/**
 * Inter-annotator agreement statistics (pure; no files).
 * Every kappa is (po - pe) / (1 - pe); when the expected agreement pe is 1 (both raters
 * always give one and the same category) it is undefined and returned as null, never NaN.
 */
import { overlap } from '../data/iou.js';

/** Share of paired items on which two raters agree (null when there are none). */
export function percentAgreement<T>(pairs: ReadonlyArray<readonly [T, T]>): number | null {
  if (pairs.length === 0) return null;
  return pairs.filter(([a, b]) => a === b).length / pairs.length;
}

/** Cohen's kappa of two raters over paired nominal ratings. */
export function cohenKappa<T>(pairs: ReadonlyArray<readonly [T, T]>): number | null {
  const n = pairs.length;
  if (n === 0) return null;
  const ca = new Map<T, number>();
  const cb = new Map<T, number>();
  let agree = 0;
  for (const [a, b] of pairs) {
    ca.set(a, (ca.get(a) ?? 0) + 1);
    cb.set(b, (cb.get(b) ?? 0) + 1);
    if (a === b) agree++;
  }
  const po = agree / n;
  let pe = 0;
  for (const [c, k] of ca) pe += (k / n) * ((cb.get(c) ?? 0) / n);
  return kappaOf(po, pe);
}

function kappaOf(po: number, pe: number): number | null {
  // pe can only be 1 when every rating falls in one category; rounding must not make it 1 - 1e-17.
  if (Math.abs(1 - pe) < 1e-12) return null;
  return (po - pe) / (1 - pe);
}

/**
 * Fleiss' kappa. `counts[i][j]`: how many of the raters put item i in category j; every
 * item must have the same number of raters (at least 2).
 */
export function fleissKappa(counts: ReadonlyArray<ReadonlyArray<number>>): number | null {
  const N = counts.length;
  if (N === 0) return null;
  const n = counts[0]!.reduce((s, v) => s + v, 0);
  if (n < 2) return null;
  const k = counts[0]!.length;
  const colSum = new Array<number>(k).fill(0);
  let pBarSum = 0;
  for (const row of counts) {
    const ni = row.reduce((s, v) => s + v, 0);
    if (ni !== n || row.length !== k) throw new RangeError('fleissKappa: every item needs the same raters and categories');
    let sq = 0;
    row.forEach((v, j) => {
      colSum[j]! += v;
      sq += v * v;
    });
    pBarSum += (sq - n) / (n * (n - 1));
  }
  const pBar = pBarSum / N;
  const pe = colSum.reduce((s, c) => s + (c / (N * n)) ** 2, 0);
  return kappaOf(pBar, pe);
}

/**
 * Weighted kappa of two raters on an ordinal scale `min..max` (study ratings 1-5):
 * 1 - sum(w * observed) / sum(w * expected), with quadratic disagreement weights
 * (i - j)^2 (the usual choice for ratings; linear weights |i - j| on request).
 */
export function weightedKappa(pairs: ReadonlyArray<readonly [number, number]>, min: number, max: number, weights: 'quadratic' | 'linear' = 'quadratic'): number | null {
  const n = pairs.length;
  if (n === 0) return null;
  const k = max - min + 1;
  const w = (i: number, j: number): number => (weights === 'quadratic' ? (i - j) ** 2 : Math.abs(i - j));
  const ra = new Array<number>(k).fill(0);
  const rb = new Array<number>(k).fill(0);
  let observed = 0;
  for (const [a, b] of pairs) {
    if (!Number.isInteger(a) || !Number.isInteger(b) || a < min || a > max || b < min || b > max) throw new RangeError(`weightedKappa: rating outside ${min}..${max}`);
    ra[a - min]!++;
    rb[b - min]!++;
    observed += w(a, b);
  }
  let expected = 0;
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) expected += w(i, j) * (ra[i]! / n) * (rb[j]! / n) * n;
  // expected disagreement 0 <=> expected agreement 1: undefined, as for the unweighted kappa.
  if (expected < 1e-12) return null;
  return 1 - observed / expected;
}

/** Intersection over union of two equally sized 0/1 maps (null when both are empty). */
export function mapIoU(a: Uint8Array, b: Uint8Array): number | null {
  if (a.length !== b.length) throw new RangeError('mapIoU: maps of different sizes');
  const { inter, union } = overlap(a, b);
  return union === 0 ? null : inter / union;
}

/** A kappa or share for people: "undefined" instead of null (expected agreement 1 / nothing paired). */
export function formatStat(v: number | null, digits = 3): string {
  return v === null ? 'undefined' : v.toFixed(digits);
}
