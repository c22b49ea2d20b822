// MaxPoolGrad: MaxPool's input gradient (the addon recomputes the argmax from the input).
import { MaxPoolGrad } from '@tensorflow/tfjs-core';
import { addon, empty, f32, nativeKernel, opCodes, out, size } from './shared.js';
import { poolInfo, poolOk, poolParams, type PoolAttrs } from './pool_util.js';

export const maxPoolGradConfig = nativeKernel(MaxPoolGrad, ({ inputs, backend, attrs }) => {
  const { dy, input } = inputs;
  const dyv = f32(backend, dy);
  const xv = f32(backend, input);
  if (!dyv || !xv || input.shape.length !== 4) return null;
  const c = poolInfo(input.shape, attrs as unknown as PoolAttrs);
  if (!poolOk(c)) return null;
  const dx = empty(size(input.shape));
  addon().poolBackward(xv, dyv, dx, poolParams(c), opCodes().pool.max);
  return out(backend, input.shape, dx);
});
