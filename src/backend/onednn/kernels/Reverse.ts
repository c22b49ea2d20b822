// Reverse: one native strided copy with negative strides on the reversed axes.
import { Reverse, util } from '@tensorflow/tfjs-core';
import { addon, empty, f32, nativeKernel, out, size, strides } from './shared.js';

export const reverseConfig = nativeKernel(Reverse, ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const xv = f32(backend, x);
  if (!xv) return null;
  const dims = util.parseAxisParam((attrs as unknown as { dims: number | number[] }).dims, x.shape);
  const st = strides(x.shape);
  const sst = st.map((s, i) => (dims.includes(i) ? -s : s));
  const off = dims.reduce((a, d) => a + (x.shape[d] - 1) * st[d], 0);
  const o = empty(size(x.shape));
  addon().stridedCopy(xv, off, sst, o, 0, st, [...x.shape]);
  return out(backend, x.shape, o);
});
