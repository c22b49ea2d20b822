// Conv2DBackpropInput: the input gradient of Conv2D (oneDNN backward-data).
import { Conv2DBackpropInput } from '@tensorflow/tfjs-core';
import { addon, empty, f32, nativeKernel, out, size } from './shared.js';
import { convGradInfo, convParams, type ConvGradAttrs } from './conv_util.js';

export const conv2DBackpropInputConfig = nativeKernel(Conv2DBackpropInput, ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs;
  const at = attrs as unknown as ConvGradAttrs & { inputShape: [number, number, number, number] };
  const dyv = f32(backend, dy);
  const wv = f32(backend, filter);
  const c = dyv && wv ? convGradInfo(at.inputShape, filter.shape, dy, at) : null;
  if (!c) return null;
  const dx = empty(size(c.inShape));
  addon().conv2dBackpropInput(dyv!, wv!, dx, convParams(c));
  return out(backend, c.inShape, dx);
});
