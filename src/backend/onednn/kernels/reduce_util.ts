// The reduction kernels (Sum, Mean, Max, Min) over axes that are contiguous once size-1 axes go.
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { backend_util, util } from '@tensorflow/tfjs-core';
import { addon, empty, f32, nativeKernel, opCodes, out, size } from './shared.js';
import type { OpCodes } from '../op_codes.js';

/** Splits `shape` reduced over `axes` into [outer, r, inner] when the reduced axes are contiguous after
 *  merging neighbours; null otherwise (e.g. reducing axes 0 and 2 of a 3-D tensor with dim 1 > 1). */
export function reduceGeometry(shape: number[], axes: number[]): [number, number, number] | null {
  const groups: { red: boolean; n: number }[] = [];
  shape.forEach((n, i) => {
    if (n === 1) return;
    const red = axes.includes(i);
    const last = groups[groups.length - 1];
    if (last && last.red === red) last.n *= n;
    else groups.push({ red, n });
  });
  const reds = groups.filter((g) => g.red);
  if (reds.length > 1) return null;
  if (reds.length === 0) return [size(shape), 1, 1];
  const i = groups.indexOf(reds[0]);
  const outer = groups.slice(0, i).reduce((a, g) => a * g.n, 1);
  const inner = groups.slice(i + 1).reduce((a, g) => a * g.n, 1);
  return [outer, reds[0].n, inner];
}

/** tfjs kernel `kernelName` as the addon's reduction `op`; its axes come in attribute `axisAttr`. */
export function reduceKernel(kernelName: string, op: keyof OpCodes['reduce'], axisAttr: 'axis' | 'reductionIndices'): KernelConfig {
  return nativeKernel(kernelName, ({ inputs, backend, attrs }) => {
    const { x } = inputs;
    const xv = f32(backend, x);
    if (!xv || size(x.shape) === 0) return null;
    const at = attrs as unknown as Record<string, unknown>;
    const axes = util.parseAxisParam(at[axisAttr] as number | number[], x.shape);
    const keepDims = Boolean(at.keepDims);
    const geo = reduceGeometry(x.shape, axes);
    if (!geo) return null;
    const [outShape] = backend_util.computeOutAndReduceShapes(x.shape, axes);
    const shape = keepDims ? backend_util.expandShapeToKeepDim(outShape, axes) : outShape;
    const o = empty(geo[0] * geo[2]);
    addon().reduce(opCodes().reduce[op], xv, geo[0], geo[1], geo[2], o);
    return out(backend, shape, o);
  });
}
