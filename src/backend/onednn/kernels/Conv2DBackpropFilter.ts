// Conv2DBackpropFilter: the filter gradient of Conv2D (oneDNN backward-weights).
import { Conv2DBackpropFilter } from '@tensorflow/tfjs-core';
import { addon, empty, f32, nativeKernel, out, size } from './shared.js';
import { convGradInfo, convParams, type ConvGradAttrs } from './conv_util.js';

export const conv2DBackpropFilterConfig = nativeKernel(Conv2DBackpropFilter, ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs;
  const at = attrs as unknown as ConvGradAttrs & { filterShape: [number, number, number, number] };
  const xv = f32(backend, x);
  const dyv = f32(backend, dy);
  const c = xv && dyv ? convGradInfo(x.shape, at.filterShape, dy, at) : null;
  if (!c) return null;
  const dw = empty(size(at.filterShape));
  addon().conv2dBackpropFilter(xv!, dyv!, dw, convParams(c));
  return out(backend, at.filterShape, dw);
});
