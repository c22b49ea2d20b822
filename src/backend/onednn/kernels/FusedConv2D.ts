// FusedConv2D: convolution + per-channel bias + activation in one oneDNN primitive (post-ops).
import { backend_util, FusedConv2D } from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { addon, empty, f32, nativeKernel, opCodes, out, size, type KernelArgs } from './shared.js';
import { convConsistent, convParams, type PadAttr, type RoundingAttr } from './conv_util.js';

/** tfjs's default leaky-ReLU slope (fused ops' leakyreluAlpha when unset). */
const TFJS_LEAKYRELU_ALPHA = 0.2;

/** A convolution, with bias and activation when `fused`; null where the native kernel does not apply. */
export function nativeConv(args: KernelArgs, fused: boolean): TensorInfo | null {
  const { backend, inputs } = args;
  const attrs = args.attrs as unknown as {
    strides: number | [number, number]; pad: PadAttr; dataFormat: 'NHWC' | 'NCHW'; dilations: number | [number, number];
    dimRoundingMode?: RoundingAttr; activation?: string; leakyreluAlpha?: number;
  };
  const { x, filter } = inputs;
  const xv = f32(backend, x);
  const wv = f32(backend, filter);
  if (!xv || !wv || x.shape.length !== 4 || attrs.dataFormat === 'NCHW') return null;
  const c = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
    attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, false, backend_util.convertConv2DDataFormat(attrs.dataFormat));
  if (!convConsistent(c)) return null;
  const acts = opCodes().activation;
  let bias: Float32Array | null = null;
  let act = acts.linear;
  let alpha = 0;
  if (fused) {
    if (inputs.bias) {
      if (size(inputs.bias.shape) !== c.outChannels) return null; // only per-channel bias natively
      bias = f32(backend, inputs.bias);
      if (!bias) return null;
    }
    const a = attrs.activation ?? 'linear';
    if (!Object.hasOwn(acts, a)) return null; // prelu etc.
    act = acts[a as keyof typeof acts];
    alpha = attrs.leakyreluAlpha ?? TFJS_LEAKYRELU_ALPHA;
  }
  const y = empty(size(c.outShape));
  addon().conv2d(xv, wv, bias, y, convParams(c), act, alpha);
  return out(backend, c.outShape, y);
}

export const fusedConv2DConfig = nativeKernel(FusedConv2D, (args) => nativeConv(args, true));
