// Test oracle of the ring all-reduce (src/comm/ring.ts), without any message passing.
import { DEFAULT_BUCKET_SIZE, segmentBounds } from '../../src/comm/ring.js';

/**
 * The reference result of Ring.allReduce computed directly from all ranks' inputs, with
 * the same summation order: segment k of each bucket is finished by the rank that owns it
 * after the reduce-scatter, starting from rank k's value and adding ranks k+1, k+2, ...
 */
export function referenceAllReduce(inputs: Float32Array[], bucketSize: number = DEFAULT_BUCKET_SIZE): Float32Array {
  const R = inputs.length;
  const n = inputs[0].length;
  const out = new Float32Array(n);
  const acc = new Float32Array(1);
  for (let base = 0; base < n; base += bucketSize) {
    const len = Math.min(bucketSize, n - base);
    for (let k = 0; k < R; k++) {
      const [a, b] = segmentBounds(len, R, k);
      for (let i = base + a; i < base + b; i++) {
        acc[0] = inputs[k][i];
        for (let j = 1; j < R; j++) acc[0] = acc[0] + inputs[(k + j) % R][i];
        out[i] = acc[0];
      }
    }
  }
  return out;
}
