// Small deterministic integer hashing and PRNG shared by everything that must be a pure
// function of seeds (sharding, flips, generated data, fixture weights).

/** FNV-1a, 32-bit, of a string's UTF-16 code units (seeds per-tensor streams from a tensor's name). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h >>> 0;
}

/** 32-bit integer mix: the finaliser of MurmurHash3 (fmix32). */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Folds an integer (up to 2^53, as two 32-bit halves) into a running hash. */
export function absorb(h: number, v: number): number {
  const lo = v >>> 0;
  const hi = Math.floor(v / 4294967296) >>> 0;
  h = mix32((h ^ lo) + 0x9e3779b9);
  h = mix32((h ^ hi) + 0x7f4a7c15);
  return h;
}

/** mulberry32: a small, fast, seeded PRNG giving uint32 values. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}
