// Deterministic "hash weights" that Python (scripts/make_torch_fixtures.py) and
// TypeScript compute identically, so parity fixtures need not ship weight files.
// value(key, i) for the i-th element of the tensor in TORCH layout:
//   h = fnv1a32(key); x = mix32(h ^ (i * 0x9E3779B1 mod 2^32)); u = (x + 0.5) / 2^32;
//   v = 2u - 1 in (-1, 1), then scaled per kind (computed in double, rounded to float32).
import { tf } from '../backend/tf.js';
import { torchToTf } from './resnet.js';
import type { Model, TensorSpec } from './types.js';
import { fnv1a, mix32 } from '../util/hash.js';


/** v_i in (-1, 1) for i < n: the raw hash stream of `key` (double precision). */
export function hashUniform(key: string, n: number): Float64Array {
  const out = new Float64Array(n);
  const h = fnv1a(key);
  for (let i = 0; i < n; i++) out[i] = (2 * (mix32((h ^ Math.imul(i, 0x9e3779b1)) >>> 0) + 0.5)) / 4294967296 - 1;
  return out;
}

/** The hash weights of one tensor, torch layout. */
export function hashWeights(spec: TensorSpec): Float32Array {
  const n = spec.torchShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const h = fnv1a(spec.name);
  let scale = 1;
  let offset = 0;
  switch (spec.kind) {
    case 'conv': { const [, i, kh, kw] = spec.torchShape; scale = Math.sqrt(6 / (i * kh * kw)); break; }
    case 'fc_weight': scale = 1 / Math.sqrt(spec.torchShape[1]); break;
    case 'fc_bias': scale = 0.1; break;
    case 'bn_weight': offset = 1; scale = 0.25; break;
    case 'bn_bias': scale = 0.1; break;
    case 'running_mean': scale = 0.1; break;
    case 'running_var': offset = 1; scale = 0.5; break;
    case 'num_batches_tracked': out[0] = 5; return out;
  }
  for (let i = 0; i < n; i++) {
    const x = mix32((h ^ Math.imul(i, 0x9e3779b1)) >>> 0);
    const v = (2 * (x + 0.5)) / 4294967296 - 1;
    out[i] = offset + v * scale;
  }
  return out;
}

/** Sets every parameter and buffer of the model to its hash weights. */
export function applyHashWeights(model: Model): void {
  for (const s of model.specs) {
    const v = (s.isBuffer ? model.buffers : model.params).get(s.name)!;
    const t = tf.tensor(torchToTf(s, hashWeights(s)), s.shape, 'float32');
    v.assign(t);
    t.dispose();
  }
}
