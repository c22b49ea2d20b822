import { describe, expect, it } from 'vitest';
import { epochPermutation, evalShards, globalBatches, planEpoch, splitBatch } from '../src/coordinator/sharder.js';

const hasAttEvery3 = (i: number): boolean => i % 3 === 0;

describe('epochPermutation', () => {
  it('is a permutation, stable for (seed, epoch), different across epochs and seeds', () => {
    const n = 1000;
    const p = epochPermutation(n, 7, 0);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(epochPermutation(n, 7, 0)).toEqual(p);
    const q = epochPermutation(n, 7, 1);
    const r = epochPermutation(n, 8, 0);
    const same = (a: Int32Array, b: Int32Array) => a.reduce((s, v, i) => s + (v === b[i] ? 1 : 0), 0);
    // A random permutation fixes ~1 position of another; allow a few.
    expect(same(p, q)).toBeLessThan(10);
    expect(same(p, r)).toBeLessThan(10);
    // Not the identity.
    expect(same(p, Int32Array.from({ length: n }, (_, i) => i))).toBeLessThan(10);
  });

  it('handles tiny sets and rejects bad arguments', () => {
    expect(epochPermutation(0, 1, 0)).toEqual(new Int32Array(0));
    expect(epochPermutation(1, 1, 0)).toEqual(Int32Array.from([0]));
    expect(() => epochPermutation(-1, 1, 0)).toThrow(/n must be/);
    expect(() => epochPermutation(3, 1.5, 0)).toThrow(/seed/);
  });

  it('is roughly uniform (position of element 0 over many epochs)', () => {
    const counts = new Array(4).fill(0);
    for (let e = 0; e < 4000; e++) counts[epochPermutation(4, 3, e).indexOf(0)]++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });
});

describe('globalBatches', () => {
  it('keeps the partial last batch', () => {
    const b = globalBatches([5, 4, 3, 2, 1, 0, 9], 3);
    expect(b).toEqual([[5, 4, 3], [2, 1, 0], [9]]);
    expect(globalBatches([], 3)).toEqual([]);
    expect(() => globalBatches([1], 0)).toThrow(/batch size/);
  });
});

describe('splitBatch', () => {
  it('is disjoint, complete and balanced in samples and attention samples', () => {
    for (const world of [1, 2, 3, 4, 7]) {
      for (let size = 0; size <= 23; size++) {
        const batch = epochPermutation(50, size, world).slice(0, size);
        const shards = splitBatch(batch, world, hasAttEvery3);
        expect(shards).toHaveLength(world);
        const flat = shards.flat();
        expect(flat.length).toBe(size);
        expect(new Set(flat).size).toBe(size);
        expect([...flat].sort((a, b) => a - b)).toEqual([...batch].sort((a, b) => a - b));
        const counts = shards.map((s) => s.length);
        const att = shards.map((s) => s.filter(hasAttEvery3).length);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        expect(Math.max(...att) - Math.min(...att)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('follows the documented rule (attention samples first, then the rest, round-robin)', () => {
    // batch order: 1 3 6 9 2 (attention: 3, 6, 9)
    expect(splitBatch([1, 3, 6, 9, 2], 2, hasAttEvery3)).toEqual([[3, 9, 2], [6, 1]]);
    expect(splitBatch([1, 2], 3, hasAttEvery3)).toEqual([[1], [2], []]);
  });
});

describe('planEpoch', () => {
  const opts = { n: 103, seed: 11, trainBatch: 16, world: 3, hasAttention: hasAttEvery3 };

  it('covers every sample exactly once per epoch with the right normalisers', () => {
    const plan = planEpoch({ ...opts, epoch: 2 });
    expect(plan.steps).toHaveLength(7);
    const all = plan.steps.flat(2);
    expect(all.length).toBe(103);
    expect(new Set(all).size).toBe(103);
    plan.steps.forEach((shards, b) => {
      const batch = shards.flat();
      expect(plan.norms[b].globalBatch).toBe(batch.length);
      expect(plan.norms[b].globalAttCount).toBe(batch.filter(hasAttEvery3).length);
    });
    expect(plan.norms.at(-1)!.globalBatch).toBe(103 - 6 * 16);
  });

  it('is a pure function: same inputs, same plan; another epoch, another plan', () => {
    expect(planEpoch({ ...opts, epoch: 1 })).toEqual(planEpoch({ ...opts, epoch: 1 }));
    expect(planEpoch({ ...opts, epoch: 1 }).steps).not.toEqual(planEpoch({ ...opts, epoch: 2 }).steps);
  });

  it('keeps the global batches independent of the worker count', () => {
    const a = planEpoch({ ...opts, epoch: 0, world: 1 }).steps.map((s) => s.flat().sort((x, y) => x - y));
    const b = planEpoch({ ...opts, epoch: 0, world: 4 }).steps.map((s) => s.flat().sort((x, y) => x - y));
    expect(a).toEqual(b);
  });
});

describe('evalShards', () => {
  it('covers every sample exactly once, contiguous, no padding', () => {
    for (const world of [1, 2, 3, 5]) {
      for (const n of [0, 1, 2, 4, 9, 10, 33]) {
        const s = evalShards(n, world);
        expect(s).toHaveLength(world);
        expect(s.flat()).toEqual(Array.from({ length: n }, (_, i) => i));
        const c = s.map((x) => x.length);
        expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
      }
    }
  });
});

describe('shardSamples', () => {
  it('attaches the index and the pure flip decision', async () => {
    const { shardSamples } = await import('../src/coordinator/sharder.js');
    const { flipFor } = await import('../src/data/flip.js');
    const set = Array.from({ length: 5 }, (_, i) => ({ path: `p${i}`, fileName: `f${i}`, label: i % 2, target: null, predWeight: 1, attWeight: 0 }));
    const s = shardSamples([[4, 0], [2]], set, 9, 3);
    expect(s.map((x) => x.map((y) => y.index))).toEqual([[4, 0], [2]]);
    expect(s[0][0].flip).toBe(flipFor(9, 3, 4));
    expect(s[1][0].path).toBe('p2');
    expect(shardSamples([[1]], set, 9, 3, false)[0][0].flip).toBe(false);
    expect(() => shardSamples([[7]], set, 9, 3)).toThrow(/no sample 7/);
  });
});
