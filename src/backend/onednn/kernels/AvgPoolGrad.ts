// AvgPoolGrad: AvgPool's input gradient.
import { AvgPoolGrad } from '@tensorflow/tfjs-core';
import { addon, empty, f32, nativeKernel, opCodes, out, size } from './shared.js';
import { poolInfo, poolOk, poolParams, type PoolAttrs } from './pool_util.js';

export const avgPoolGradConfig = nativeKernel(AvgPoolGrad, ({ inputs, backend, attrs }) => {
  const { dy, input } = inputs;
  const dyv = f32(backend, dy);
  if (!dyv || input.shape.length !== 4 || input.dtype !== 'float32') return null;
  const c = poolInfo(input.shape, attrs as unknown as PoolAttrs);
  if (!poolOk(c)) return null;
  const dx = empty(size(input.shape));
  addon().poolBackward(dyv, dyv, dx, poolParams(c), opCodes().pool.avg); // x unused for average pooling
  return out(backend, input.shape, dx);
});
