// The broadcasting binary kernels (Add, Sub, Multiply, ...): one addon call each.
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import { addon, empty, f32, nativeKernel, opCodes, out, size } from './shared.js';
import type { OpCodes } from '../op_codes.js';

/** tfjs kernel `kernelName` as the addon's binary op `op` (numpy broadcasting). */
export function binaryKernel(kernelName: string, op: keyof OpCodes['binary']): KernelConfig {
  return nativeKernel(kernelName, ({ inputs, backend }) => {
    const { a, b } = inputs;
    const av = f32(backend, a);
    const bv = f32(backend, b);
    if (!av || !bv) return null;
    const os = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const o = empty(size(os));
    addon().binary(opCodes().binary[op], av, a.shape, bv, b.shape, o, os);
    return out(backend, os, o);
  });
}
