// PadV2 (constant padding): a native fill, then one strided copy of the input into the middle.
import { PadV2 } from '@tensorflow/tfjs-core';
import { addon, empty, f32, nativeKernel, out, size, strides } from './shared.js';

export const padV2Config = nativeKernel(PadV2, ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const xv = f32(backend, x);
  if (!xv) return null;
  const at = attrs as unknown as { paddings: [number, number][]; constantValue: number };
  const os = x.shape.map((d, i) => at.paddings[i][0] + d + at.paddings[i][1]);
  const o = empty(size(os));
  addon().fill(o, at.constantValue, o.length);
  const ost = strides(os);
  const off = at.paddings.reduce((a, p, i) => a + p[0] * ost[i], 0);
  if (size(x.shape) > 0) addon().stridedCopy(xv, 0, strides(x.shape), o, off, ost, [...x.shape]);
  return out(backend, os, o);
});
