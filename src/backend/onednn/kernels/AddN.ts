// AddN: the sum of same-shape tensors in one pass (gradient accumulation).
import { AddN, util } from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { addon, empty, f32, nativeKernel, out, size } from './shared.js';

export const addNConfig = nativeKernel(AddN, ({ inputs, backend }) => {
  const xs = (Array.isArray(inputs) ? inputs : Object.values(inputs)).flat() as TensorInfo[];
  if (xs.length === 0) return null;
  const vs = xs.map((t) => f32(backend, t));
  if (vs.some((v) => !v) || xs.some((t) => !util.arraysEqual(t.shape, xs[0].shape))) return null;
  const n = size(xs[0].shape);
  const o = empty(n);
  addon().addN(vs as Float32Array[], o, n);
  return out(backend, xs[0].shape, o);
});
