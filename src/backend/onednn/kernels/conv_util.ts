// Geometry shared by the convolution kernels (Conv2D, FusedConv2D and Conv2D's gradient kernels).
import { backend_util } from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { size } from './shared.js';

export type PadAttr = 'valid' | 'same' | number | backend_util.ExplicitPadding;
export type RoundingAttr = 'floor' | 'round' | 'ceil';

/** oneDNN rejects convolutions whose output size is inconsistent with the paddings (ceil rounding). */
export function convConsistent(c: backend_util.Conv2DInfo): boolean {
  const okH = Math.floor((c.inHeight + c.padInfo.top + c.padInfo.bottom - c.effectiveFilterHeight) / c.strideHeight) + 1 === c.outHeight;
  const okW = Math.floor((c.inWidth + c.padInfo.left + c.padInfo.right - c.effectiveFilterWidth) / c.strideWidth) + 1 === c.outWidth;
  const nonneg = c.padInfo.top >= 0 && c.padInfo.bottom >= 0 && c.padInfo.left >= 0 && c.padInfo.right >= 0;
  return okH && okW && nonneg && c.dataFormat === 'channelsLast';
}

/** The addon's conv params: N, IH, IW, IC, KH, KW, OC, OH, OW, SH, SW, DH, DW, PT, PL, PB, PR. */
export function convParams(c: backend_util.Conv2DInfo): number[] {
  return [c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.filterHeight, c.filterWidth, c.outChannels,
    c.outHeight, c.outWidth, c.strideHeight, c.strideWidth, c.dilationHeight, c.dilationWidth,
    c.padInfo.top, c.padInfo.left, c.padInfo.bottom, c.padInfo.right];
}

export interface ConvGradAttrs { strides: number | [number, number]; pad: PadAttr; dataFormat: 'NHWC' | 'NCHW'; dimRoundingMode?: RoundingAttr }

/** The forward convolution's geometry for a gradient kernel, or null where the native kernel does not apply. */
export function convGradInfo(xShape: number[], wShape: number[], dy: TensorInfo, at: ConvGradAttrs): backend_util.Conv2DInfo | null {
  if (xShape.length !== 4 || at.dataFormat === 'NCHW') return null;
  const c = backend_util.computeConv2DInfo(xShape as [number, number, number, number], wShape as [number, number, number, number], at.strides, 1, at.pad,
    at.dimRoundingMode, false, backend_util.convertConv2DDataFormat(at.dataFormat));
  return convConsistent(c) && size(dy.shape) === size(c.outShape) ? c : null;
}
