// The elementwise unary kernels (Relu, Exp, ...): one addon call each.
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { addon, empty, f32, nativeKernel, opCodes, out, size } from './shared.js';
import type { OpCodes } from '../op_codes.js';

/** tfjs kernel `kernelName` as the addon's unary op `op` (attrs.alpha: Step's value for x <= 0). */
export function unaryKernel(kernelName: string, op: keyof OpCodes['unary']): KernelConfig {
  return nativeKernel(kernelName, ({ inputs, backend, attrs }) => {
    const { x } = inputs;
    const xv = f32(backend, x);
    if (!xv) return null;
    const n = size(x.shape);
    const o = empty(n);
    const alpha = (attrs as { alpha?: number } | undefined)?.alpha ?? 0;
    addon().unary(opCodes().unary[op], xv, o, n, alpha);
    return out(backend, x.shape, o);
  });
}
