// Geometry shared by the pooling kernels (MaxPool, AvgPool and their gradients).
import { backend_util } from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { addon, empty, f32, out, size, type KernelArgs } from './shared.js';
import { convConsistent, type PadAttr, type RoundingAttr } from './conv_util.js';

export interface PoolAttrs { filterSize: number | [number, number]; strides: number | [number, number]; pad: PadAttr; dimRoundingMode?: RoundingAttr }

export function poolInfo(shape: number[], at: PoolAttrs): backend_util.Conv2DInfo {
  return backend_util.computePool2DInfo(shape as [number, number, number, number], at.filterSize, at.strides, 1, at.pad, at.dimRoundingMode);
}

/** The addon's pool params: N, IH, IW, C, KH, KW, OH, OW, SH, SW, PT, PL, PB, PR. */
export function poolParams(c: backend_util.Conv2DInfo): number[] {
  return [c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.filterHeight, c.filterWidth, c.outHeight, c.outWidth,
    c.strideHeight, c.strideWidth, c.padInfo.top, c.padInfo.left, c.padInfo.bottom, c.padInfo.right];
}

/** oneDNN pools without dilation and with every padding smaller than the window. */
export function poolOk(c: backend_util.Conv2DInfo): boolean {
  return convConsistent(c) && c.dilationHeight === 1 && c.dilationWidth === 1 &&
    c.padInfo.top < c.filterHeight && c.padInfo.bottom < c.filterHeight &&
    c.padInfo.left < c.filterWidth && c.padInfo.right < c.filterWidth;
}

/** Forward pooling of `kind` (an opCodes.pool code); null where the native kernel does not apply. */
export function poolForward({ inputs, backend, attrs }: KernelArgs, kind: number): TensorInfo | null {
  const { x } = inputs;
  const xv = f32(backend, x);
  if (!xv || x.shape.length !== 4) return null;
  const c = poolInfo(x.shape, attrs as unknown as PoolAttrs);
  if (!poolOk(c)) return null;
  const y = empty(size(c.outShape));
  addon().pool(xv, y, poolParams(c), kind);
  return out(backend, c.outShape, y);
}
