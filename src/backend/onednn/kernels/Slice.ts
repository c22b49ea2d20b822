// Slice: one native strided copy (contiguous slices stay the cpu kernel's zero-copy subarray).
import { Slice, slice_util } from '@tensorflow/tfjs-core';
import { addon, empty, f32, nativeKernel, out, size, strides } from './shared.js';

export const sliceConfig = nativeKernel(Slice, ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const xv = f32(backend, x);
  if (!xv) return null;
  const at = attrs as unknown as { begin: number | number[]; size: number | number[] };
  const [begin, sz] = slice_util.parseSliceParams(x as never, at.begin, at.size);
  slice_util.assertParamsValid(x as never, begin, sz);
  const n = size(sz);
  if (n === 0 || slice_util.isSliceContinous(x.shape, begin, sz)) return null; // cpu: zero-copy subarray
  const st = strides(x.shape);
  const off = begin.reduce((a, b, i) => a + b * st[i], 0);
  const o = empty(n);
  addon().stridedCopy(xv, off, st, o, 0, strides(sz), sz);
  return out(backend, sz, o);
});
