// Deterministic sharding: pure functions of (seed, epoch, data-set size, batch size,
// world size). Nothing here depends on worker timing or on which worker asks.
import { absorb, mix32, mulberry32 } from '../util/hash.js';
import { flipFor } from '../data/flip.js';
import type { TrainSample } from '../data/types.js';
import type { ShardSample } from '../worker/types.js';

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`sharder: ${name} must be an integer >= ${min} (got ${v})`);
}

/**
 * The order in which epoch `epoch` visits the `n` training samples: a Fisher-Yates
 * shuffle driven by a PRNG seeded from (seed, epoch). Pure.
 */
export function epochPermutation(n: number, seed: number, epoch: number): Int32Array {
  checkInt('n', n, 0);
  checkInt('epoch', epoch, 0);
  if (!Number.isInteger(seed)) throw new RangeError(`sharder: seed must be an integer (got ${seed})`);
  let h = 0x5eed5eed;
  h = absorb(h, seed);
  h = mix32((h ^ epoch) + 0x632be59b);
  const rnd = mulberry32(h);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    // Unbiased integer in [0, i] by rejection.
    const range = i + 1;
    const limit = Math.floor(4294967296 / range) * range;
    let x = rnd();
    while (x >= limit) x = rnd();
    const j = x % range;
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** Consecutive global batches of `batchSize` sample indices; the partial last batch is kept. */
export function globalBatches(order: ArrayLike<number>, batchSize: number): number[][] {
  checkInt('batch size', batchSize, 1);
  const all = Array.from(order);
  const out: number[][] = [];
  for (let i = 0; i < all.length; i += batchSize) out.push(all.slice(i, i + batchSize));
  return out;
}

/**
 * Splits one global batch (sample indices, in batch order) across `world` workers.
 * Rule: the attention-labelled samples (those with `hasAttention(i)`), in batch order,
 * then the others, in batch order, are dealt round-robin to workers 0, 1, ..., R-1, 0, ...
 * So every worker gets floor or ceil of n/R samples and floor or ceil of nAtt/R
 * attention samples; a worker may get an empty shard when n < R.
 */
export function splitBatch(batch: ArrayLike<number>, world: number, hasAttention: (index: number) => boolean): number[][] {
  checkInt('world size', world, 1);
  const shards: number[][] = Array.from({ length: world }, () => []);
  const att: number[] = [];
  const rest: number[] = [];
  for (let i = 0; i < batch.length; i++) (hasAttention(batch[i]) ? att : rest).push(batch[i]);
  let k = 0;
  for (const i of att) shards[k++ % world].push(i);
  for (const i of rest) shards[k++ % world].push(i);
  return shards;
}

export interface EpochPlan {
  epoch: number;
  /** steps[b][r] = the sample indices worker r trains on in step b of the epoch. */
  steps: number[][][];
  /** Samples (and attention samples) in each global batch: the loss normalisers. */
  norms: { globalBatch: number; globalAttCount: number }[];
}

/** The whole epoch's plan: permutation, global batches, per-worker shards and normalisers. */
export function planEpoch(opts: { n: number; seed: number; epoch: number; trainBatch: number; world: number; hasAttention: (index: number) => boolean }): EpochPlan {
  const order = epochPermutation(opts.n, opts.seed, opts.epoch);
  const batches = globalBatches(order, opts.trainBatch);
  return {
    epoch: opts.epoch,
    steps: batches.map((b) => splitBatch(b, opts.world, opts.hasAttention)),
    norms: batches.map((b) => ({ globalBatch: b.length, globalAttCount: b.filter((i) => opts.hasAttention(i)).length })),
  };
}

/**
 * Evaluation shards: `n` samples in their order, cut into `world` contiguous blocks of
 * floor or ceil n/R samples; every sample appears exactly once, nothing is padded.
 */
export function evalShards(n: number, world: number): number[][] {
  checkInt('n', n, 0);
  checkInt('world size', world, 1);
  const out: number[][] = [];
  for (let k = 0; k < world; k++) {
    const a = Math.floor((k * n) / world);
    const b = Math.floor(((k + 1) * n) / world);
    const s: number[] = [];
    for (let i = a; i < b; i++) s.push(i);
    out.push(s);
  }
  return out;
}

/**
 * The samples of one step's shards, with the flip decision of each sample
 * (flipFor(seed, epoch, index), or never when `augment` is false).
 */
export function shardSamples(shards: number[][], samples: readonly TrainSample[], seed: number, epoch: number, augment = true): ShardSample[][] {
  return shards.map((idx) => idx.map((i) => {
    const s = samples[i];
    if (!s) throw new RangeError(`shardSamples: no sample ${i} (the set has ${samples.length})`);
    return { ...s, index: i, flip: augment ? flipFor(seed, epoch, i) : false };
  }));
}
