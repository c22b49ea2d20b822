// Finding non-finite values (NaN, +-Inf) in flat vectors, fast enough to run on every
// step's gradients and weights: a step must never apply, and a checkpoint never hold, them.

/** Index of the first NaN or +-Inf in values[start, end), or -1 when all are finite. */
export function firstNonFinite(values: Float32Array, start = 0, end = values.length): number {
  // x * 0 is 0 for every finite x and NaN for NaN and +-Inf: one cheap pass over blocks,
  // then a search only inside a block that turned NaN.
  const BLOCK = 4096;
  for (let a = start; a < end; a += BLOCK) {
    const b = Math.min(end, a + BLOCK);
    let probe = 0;
    for (let i = a; i < b; i++) probe += values[i]! * 0;
    if (probe !== 0) {
      for (let i = a; i < b; i++) if (!Number.isFinite(values[i]!)) return i;
    }
  }
  return -1;
}

/** `'NaN'`, `'Infinity'` or `'-Infinity'` for a non-finite value. */
export function nonFiniteKind(x: number): string {
  return Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity';
}

/**
 * The first tensor of a flat layout (laid out in `values` from `base`) that holds a
 * non-finite value, and that value's kind; null when all are finite.
 */
export function findNonFinite(values: Float32Array, layout: { names: string[]; offsets: number[]; total: number }, base = 0): { tensor: string; kind: string } | null {
  const i = firstNonFinite(values, base, base + layout.total);
  if (i < 0) return null;
  const at = i - base;
  let t = 0;
  while (t + 1 < layout.offsets.length && layout.offsets[t + 1]! <= at) t++;
  return { tensor: layout.names[t]!, kind: nonFiniteKind(values[i]!) };
}

/** "NaN (3 values)", "Inf (1 value)", "NaN (2 values) and Inf (1 value)" or null when all finite. */
export function describeNonFinite(data: Float32Array): string | null {
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) { if (v !== v) nan++; else inf++; } // v - v is NaN exactly for NaN and +-Inf
  }
  if (!nan && !inf) return null;
  const n = (k: number) => `${k} value${k === 1 ? '' : 's'}`;
  return [nan ? `NaN (${n(nan)})` : '', inf ? `Inf (${n(inf)})` : ''].filter(Boolean).join(' and ');
}
