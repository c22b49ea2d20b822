// Transpose: one native strided copy.
import { Transpose } from '@tensorflow/tfjs-core';
import { addon, empty, f32, nativeKernel, out, size, strides } from './shared.js';

export const transposeConfig = nativeKernel(Transpose, ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const xv = f32(backend, x);
  if (!xv) return null;
  const perm = (attrs as unknown as { perm: number[] }).perm;
  const st = strides(x.shape);
  const os = perm.map((p) => x.shape[p]);
  const o = empty(size(os));
  addon().stridedCopy(xv, 0, perm.map((p) => st[p]), o, 0, strides(os), os);
  return out(backend, os, o);
});
