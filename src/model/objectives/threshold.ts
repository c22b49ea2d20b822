// RES's robust threshold `a` (its BF_solver), in O(n log n) instead of RES's quadratic loop.
//
// Constraints over the labelled pixels of a batch: a negative pixel (y < 0) is satisfied
// when a > c, a positive one (y > 0) when a <= c. The candidates, in RES's order, are
// c_i + 1e-4 for every negative pixel (in batch order), then c_j for every positive pixel.
// A candidate's score is (satisfied negatives) / (#negatives) + (satisfied positives) /
// (#positives), each side counting only when that side is non-empty; the first candidate
// with the highest score wins (RES replaces its best only on a strictly higher score); with
// no candidate at all a = 0. Scores are compared exactly as integers (RES accumulates them
// in float32, where equal fractions can round apart; see docs/objectives.md).

/** RES's epsilon: a negative candidate lies just above its own pixel, satisfying it. */
export const NEGATIVE_OFFSET = Math.fround(1e-4);

/** Number of entries of the ascending `sorted` that are < v. */
function countBelow(sorted: Float64Array, v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < v) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/**
 * The threshold of RES's brute-force solver over `cams[i]` / `labels[i]` (same length,
 * in the batch's order; label 0 = unlabelled). Returns a float32 value.
 */
export function robustThreshold(cams: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (cams.length !== labels.length) throw new RangeError(`robustThreshold: ${cams.length} cam values, ${labels.length} labels`);
  const negCand: number[] = [];
  const posCand: number[] = [];
  // the negatives' own values (candidate - offset is not exact: keep them separately)
  const negOwn: number[] = [];
  for (let i = 0; i < cams.length; i++) {
    const y = labels[i]!;
    const c = Math.fround(cams[i]!);
    if (y < 0) {
      negCand.push(Math.fround(c + NEGATIVE_OFFSET));
      negOwn.push(c);
    } else if (y > 0) posCand.push(c);
  }
  const nNeg = negCand.length;
  const nPos = posCand.length;
  if (nNeg === 0 && nPos === 0) return 0;
  const negVals = Float64Array.from(negOwn).sort();
  const posVals = Float64Array.from(posCand).sort();
  // score * nNeg * nPos as an integer (a side that is empty contributes nothing)
  const wNeg = nPos > 0 ? nPos : 1;
  const wPos = nNeg > 0 ? nNeg : 1;
  const score = (v: number): number => {
    const negOk = countBelow(negVals, v); // a > c_i
    const posOk = nPos - countBelow(posVals, v); // a <= c_j
    return (nNeg > 0 ? negOk * wNeg : 0) + (nPos > 0 ? posOk * wPos : 0);
  };
  let best = 0;
  let bestScore = 0; // every candidate satisfies at least itself, so scores are > 0
  for (const list of [negCand, posCand]) {
    for (const v of list) {
      const s = score(v);
      if (s > bestScore) { bestScore = s; best = v; }
    }
  }
  return best;
}
