/**
 * Horizontal-flip augmentation as a pure function of (seed, epoch, sample index), so the
 * decision does not depend on which worker loads the sample or in what order.
 */
import { absorb } from '../util/hash.js';

/**
 * Whether sample `sampleIndex` (its index in the training set, not in the batch) is
 * horizontally flipped in epoch `epoch` of a run seeded with `seed`. Pure and
 * stateless: the same arguments always give the same answer, on any thread.
 * About half of all samples are flipped in every epoch.
 */
export function flipFor(seed: number, epoch: number, sampleIndex: number): boolean {
  if (!Number.isInteger(seed) || !Number.isInteger(epoch) || !Number.isInteger(sampleIndex)) {
    throw new TypeError(`flipFor needs integers, got (${seed}, ${epoch}, ${sampleIndex})`);
  }
  let h = 0x243f6a88; // domain tag: "flip"
  h = absorb(h, seed < 0 ? -seed * 2 + 1 : seed * 2);
  h = absorb(h, epoch);
  h = absorb(h, sampleIndex);
  return (h & 1) === 1;
}

/** Horizontal flip (mirror left-right) of a row-major grid x grid map; returns a new array. */
export function flipMap(target: Float32Array, grid: number): Float32Array {
  if (target.length !== grid * grid) throw new RangeError(`flipMap: map has ${target.length} values, expected ${grid}x${grid}`);
  const out = new Float32Array(target.length);
  for (let y = 0; y < grid; y++) {
    const row = y * grid;
    for (let x = 0; x < grid; x++) out[row + x] = target[row + grid - 1 - x];
  }
  return out;
}

/**
 * Horizontal flip of a row-major h x w uint8 mask (RES-L's full-resolution positive mask,
 * flipped with its image); returns a new array. Signed grid targets ({-1, 0, 1}) go through
 * `flipMap` unchanged in sign: the flip only moves values.
 */
export function flipMaskU8(mask: Uint8Array, h: number, w: number): Uint8Array {
  if (mask.length !== h * w) throw new RangeError(`flipMaskU8: mask has ${mask.length} values, expected ${h}x${w}`);
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) out[row + x] = mask[row + w - 1 - x]!;
  }
  return out;
}
