// Native kernels for the `onednn` backend: they run on the cpu backend's TypedArrays (zero-copy)
// and fall back to tfjs's cpu kernel for anything they do not cover (other dtypes, NCHW, ...).
import {
  backend_util, util,
  Add, AddN, AvgPool, AvgPoolGrad, BatchMatMul, Conv2D, Conv2DBackpropFilter, Conv2DBackpropInput,
  FusedConv2D, _FusedMatMul, Maximum, MaxPool, MaxPoolGrad, Max, Mean, Min, Minimum, Multiply, RealDiv,
  SquaredDifference, Sub, Sum, Relu, Relu6, Neg, Exp, Log, Sqrt, Rsqrt, Square, Abs, Step, Sigmoid,
  Slice, Transpose, PadV2, Reverse, slice_util,
} from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo, NamedAttrMap } from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { OnednnAddon } from './addon.js';

type Backend = MathBackendCPU;
type Args = { inputs: Record<string, TensorInfo | TensorInfo[]>; backend: Backend; attrs?: NamedAttrMap };
export type Fallback = (kernelName: string) => KernelFunc;

/** Counts of native calls and fallbacks per kernel (for tests and the bench). */
export const kernelStats: { native: Record<string, number>; fallback: Record<string, number> } = { native: {}, fallback: {} };
function count(kind: 'native' | 'fallback', name: string): void {
  kernelStats[kind][name] = (kernelStats[kind][name] ?? 0) + 1;
}

function f32(backend: Backend, t: TensorInfo): Float32Array | null {
  if (t.dtype !== 'float32') return null;
  const v = backend.data.get(t.dataId)?.values;
  return v instanceof Float32Array ? v : null;
}
/** An uninitialised Float32Array (no zero fill: every native kernel writes all of its output),
 *  from the backend's buffer pool when it has one. */
let currentBackend: Backend | null = null;
export function empty(n: number): Float32Array {
  const b = currentBackend as unknown as { alloc?: (n: number) => Float32Array } | null;
  if (b?.alloc) return b.alloc(n);
  if (n === 0) return new Float32Array(0);
  const buf = Buffer.allocUnsafeSlow(n * 4);
  return new Float32Array(buf.buffer, buf.byteOffset, n);
}
function out(backend: Backend, shape: number[], values: Float32Array): TensorInfo {
  return backend.makeTensorInfo(shape, 'float32', values);
}
function size(shape: readonly number[]): number {
  return util.sizeFromShape(shape as number[]);
}

const ACT: Record<string, number> = { linear: 0, relu: 1, relu6: 2, sigmoid: 3, elu: 4, leakyrelu: 5 };

/** oneDNN rejects convolutions whose output size is inconsistent with the paddings (ceil rounding). */
function convConsistent(c: backend_util.Conv2DInfo): boolean {
  const okH = Math.floor((c.inHeight + c.padInfo.top + c.padInfo.bottom - c.effectiveFilterHeight) / c.strideHeight) + 1 === c.outHeight;
  const okW = Math.floor((c.inWidth + c.padInfo.left + c.padInfo.right - c.effectiveFilterWidth) / c.strideWidth) + 1 === c.outWidth;
  const nonneg = c.padInfo.top >= 0 && c.padInfo.bottom >= 0 && c.padInfo.left >= 0 && c.padInfo.right >= 0;
  return okH && okW && nonneg && c.dataFormat === 'channelsLast';
}
function convParams(c: backend_util.Conv2DInfo): number[] {
  return [c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.filterHeight, c.filterWidth, c.outChannels,
    c.outHeight, c.outWidth, c.strideHeight, c.strideWidth, c.dilationHeight, c.dilationWidth,
    c.padInfo.top, c.padInfo.left, c.padInfo.bottom, c.padInfo.right];
}
function poolParams(c: backend_util.Conv2DInfo): number[] {
  return [c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.filterHeight, c.filterWidth, c.outHeight, c.outWidth,
    c.strideHeight, c.strideWidth, c.padInfo.top, c.padInfo.left, c.padInfo.bottom, c.padInfo.right];
}
function poolOk(c: backend_util.Conv2DInfo): boolean {
  return convConsistent(c) && c.dilationHeight === 1 && c.dilationWidth === 1 &&
    c.padInfo.top < c.filterHeight && c.padInfo.bottom < c.filterHeight &&
    c.padInfo.left < c.filterWidth && c.padInfo.right < c.filterWidth;
}

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

export function nativeKernels(addon: OnednnAddon, fallback: Fallback, backendName: string): KernelConfig[] {
  const kernels: KernelConfig[] = [];
  const add = (kernelName: string, fn: (args: Args) => TensorInfo | null): void => {
    const fb = fallback(kernelName);
    const kernelFunc = ((args: Args) => {
      currentBackend = args.backend;
      const r = fn(args);
      if (r) {
        count('native', kernelName);
        return r;
      }
      count('fallback', kernelName);
      return fb(args as never);
    }) as unknown as KernelFunc;
    kernels.push({ kernelName, backendName, kernelFunc });
  };

  // ---- convolution ----
  const conv = (args: Args, fused: boolean): TensorInfo | null => {
    const { backend } = args;
    const inputs = args.inputs as Record<string, TensorInfo>;
    const attrs = args.attrs as unknown as {
      strides: number | [number, number]; pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
      dataFormat: 'NHWC' | 'NCHW'; dilations: number | [number, number]; dimRoundingMode?: 'floor' | 'round' | 'ceil';
      activation?: string; leakyreluAlpha?: number;
    };
    const { x, filter } = inputs;
    const xv = f32(backend, x);
    const wv = f32(backend, filter);
    if (!xv || !wv || x.shape.length !== 4 || attrs.dataFormat === 'NCHW') return null;
    const c = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
      attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, false, backend_util.convertConv2DDataFormat(attrs.dataFormat));
    if (!convConsistent(c)) return null;
    let bias: Float32Array | null = null;
    let act = 0;
    let alpha = 0;
    if (fused) {
      if (inputs.bias) {
        if (size(inputs.bias.shape) !== c.outChannels) return null; // only per-channel bias natively
        bias = f32(backend, inputs.bias);
        if (!bias) return null;
      }
      const a = attrs.activation ?? 'linear';
      if (!(a in ACT)) return null; // prelu etc.
      act = ACT[a];
      alpha = attrs.leakyreluAlpha ?? 0.2;
    }
    const y = empty(size(c.outShape));
    addon.conv2d(xv, wv, bias, y, convParams(c), act, alpha);
    return out(backend, c.outShape, y);
  };
  add(Conv2D, (a) => conv(a, false));
  add(FusedConv2D, (a) => conv(a, true));

  // Both conv gradients: the forward conv's geometry, or null where the native kernel does not apply.
  type ConvGradAttrs = { strides: number | [number, number]; pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
    dataFormat: 'NHWC' | 'NCHW'; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  const convGradInfo = (xShape: number[], wShape: number[], dy: TensorInfo, at: ConvGradAttrs) => {
    if (xShape.length !== 4 || at.dataFormat === 'NCHW') return null;
    const c = backend_util.computeConv2DInfo(xShape as [number, number, number, number], wShape as [number, number, number, number], at.strides, 1, at.pad,
      at.dimRoundingMode, false, backend_util.convertConv2DDataFormat(at.dataFormat));
    return convConsistent(c) && size(dy.shape) === size(c.outShape) ? c : null;
  };

  add(Conv2DBackpropInput, ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as Record<string, TensorInfo>;
    const at = attrs as unknown as ConvGradAttrs & { inputShape: [number, number, number, number] };
    const dyv = f32(backend, dy);
    const wv = f32(backend, filter);
    const c = dyv && wv ? convGradInfo(at.inputShape, filter.shape, dy, at) : null;
    if (!c) return null;
    const dx = empty(size(c.inShape));
    addon.conv2dBackpropInput(dyv!, wv!, dx, convParams(c));
    return out(backend, [...c.inShape], dx);
  });

  add(Conv2DBackpropFilter, ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as Record<string, TensorInfo>;
    const at = attrs as unknown as ConvGradAttrs & { filterShape: [number, number, number, number] };
    const xv = f32(backend, x);
    const dyv = f32(backend, dy);
    const c = xv && dyv ? convGradInfo(x.shape, at.filterShape, dy, at) : null;
    if (!c) return null;
    const dw = empty(size(at.filterShape));
    addon.conv2dBackpropFilter(xv!, dyv!, dw, convParams(c));
    return out(backend, [...at.filterShape], dw);
  });

  // ---- pooling ----
  type PoolAttrs = { filterSize: number | [number, number]; strides: number | [number, number];
    pad: 'valid' | 'same' | number | backend_util.ExplicitPadding; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  const poolInfo = (shape: number[], at: PoolAttrs) =>
    backend_util.computePool2DInfo(shape as [number, number, number, number], at.filterSize, at.strides, 1, at.pad, at.dimRoundingMode);
  const poolFwd = (kind: number) => ({ inputs, backend, attrs }: Args): TensorInfo | null => {
    const { x } = inputs as Record<string, TensorInfo>;
    const xv = f32(backend, x);
    if (!xv || x.shape.length !== 4) return null;
    const c = poolInfo(x.shape, attrs as unknown as PoolAttrs);
    if (!poolOk(c)) return null;
    const y = empty(size(c.outShape));
    addon.pool(xv, y, poolParams(c), kind);
    return out(backend, c.outShape, y);
  };
  add(MaxPool, poolFwd(0));
  add(AvgPool, poolFwd(1));
  add(MaxPoolGrad, ({ inputs, backend, attrs }) => {
    const { dy, input } = inputs as Record<string, TensorInfo>;
    const dyv = f32(backend, dy);
    const xv = f32(backend, input);
    if (!dyv || !xv || input.shape.length !== 4) return null;
    const c = poolInfo(input.shape, attrs as unknown as PoolAttrs);
    if (!poolOk(c)) return null;
    const dx = empty(size(input.shape));
    addon.poolBackward(xv, dyv, dx, poolParams(c), 0);
    return out(backend, [...input.shape], dx);
  });
  add(AvgPoolGrad, ({ inputs, backend, attrs }) => {
    const { dy, input } = inputs as Record<string, TensorInfo>;
    const dyv = f32(backend, dy);
    if (!dyv || input.shape.length !== 4 || input.dtype !== 'float32') return null;
    const c = poolInfo(input.shape, attrs as unknown as PoolAttrs);
    if (!poolOk(c)) return null;
    const dx = empty(size(input.shape));
    addon.poolBackward(dyv, dyv, dx, poolParams(c), 1); // x unused for average pooling
    return out(backend, [...input.shape], dx);
  });

  // ---- matmul ----
  const matmul = (backend: Backend, a: TensorInfo, b: TensorInfo, ta: boolean, tb: boolean): TensorInfo | null => {
    const av = f32(backend, a);
    const bv = f32(backend, b);
    if (!av || !bv || a.shape.length < 2 || b.shape.length < 2) return null;
    const ra = a.shape.length;
    const rb = b.shape.length;
    const M = ta ? a.shape[ra - 1] : a.shape[ra - 2];
    const K = ta ? a.shape[ra - 2] : a.shape[ra - 1];
    const K2 = tb ? b.shape[rb - 1] : b.shape[rb - 2];
    const N = tb ? b.shape[rb - 2] : b.shape[rb - 1];
    if (K !== K2) return null; // let the reference kernel raise its error
    const batchA = a.shape.slice(0, -2);
    const batchB = b.shape.slice(0, -2);
    const Ba = size(batchA);
    const Bb = size(batchB);
    let outBatch: number[];
    if (Ba === Bb && (batchA.length === batchB.length)) outBatch = batchA;
    else if (Ba === 1) outBatch = batchB.length >= batchA.length ? batchB : [...batchA.slice(0, batchA.length - batchB.length), ...batchB];
    else if (Bb === 1) outBatch = batchA.length >= batchB.length ? batchA : [...batchB.slice(0, batchB.length - batchA.length), ...batchA];
    else return null;
    if (Ba !== Bb && Ba !== 1 && Bb !== 1) return null;
    if (M * N * K === 0) return null;
    const o = empty(Math.max(Ba, Bb) * M * N);
    addon.matmul(av, bv, o, [Ba, Bb, M, K, N, ta ? 1 : 0, tb ? 1 : 0]);
    return out(backend, [...outBatch, M, N], o);
  };
  add(BatchMatMul, ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as Record<string, TensorInfo>;
    const at = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    return matmul(backend, a, b, at.transposeA, at.transposeB);
  });
  add(_FusedMatMul, ({ inputs, backend, attrs }) => {
    const { a, b, bias, preluActivationWeights } = inputs as Record<string, TensorInfo | undefined>;
    const at = attrs as unknown as { transposeA: boolean; transposeB: boolean; activation: string };
    const act = at.activation ?? 'linear';
    if (preluActivationWeights || !['linear', 'relu', 'relu6', 'sigmoid'].includes(act)) return null;
    if (bias && !f32(backend, bias)) return null;
    const mm = matmul(backend, a!, b!, at.transposeA, at.transposeB);
    if (!mm) return null;
    let cur = mm;
    const curV = f32(backend, cur)!;
    if (bias) {
      const bshape = backend_util.assertAndGetBroadcastShape(cur.shape, bias.shape);
      if (size(bshape) !== size(cur.shape)) { backend.disposeIntermediateTensorInfo(cur); return null; }
      addon.binary(0, curV, cur.shape, f32(backend, bias)!, bias.shape, curV, cur.shape);
    }
    const uop = { linear: -1, relu: 0, relu6: 10, sigmoid: 9 }[act as 'linear'];
    if (uop >= 0) addon.unary(uop, curV, curV, curV.length, 0);
    return cur;
  });

  // ---- binary (broadcasting) ----
  const binary = (op: number) => ({ inputs, backend }: Args): TensorInfo | null => {
    const { a, b } = inputs as Record<string, TensorInfo>;
    const av = f32(backend, a);
    const bv = f32(backend, b);
    if (!av || !bv) return null;
    const os = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const o = empty(size(os));
    addon.binary(op, av, a.shape, bv, b.shape, o, os);
    return out(backend, os, o);
  };
  add(Add, binary(0));
  add(Sub, binary(1));
  add(Multiply, binary(2));
  add(RealDiv, binary(3));
  add(Maximum, binary(4));
  add(Minimum, binary(5));
  add(SquaredDifference, binary(6));

  add(AddN, ({ inputs, backend }) => {
    const xs = (Array.isArray(inputs) ? inputs : Object.values(inputs)).flat() as TensorInfo[];
    if (xs.length === 0) return null;
    const vs = xs.map((t) => f32(backend, t));
    if (vs.some((v) => !v) || xs.some((t) => !util.arraysEqual(t.shape, xs[0].shape))) return null;
    const n = size(xs[0].shape);
    const o = empty(n);
    addon.addN(vs as Float32Array[], o, n);
    return out(backend, [...xs[0].shape], o);
  });

  // ---- reductions ----
  const reduce = (op: number, axisAttr: 'axis' | 'reductionIndices') => ({ inputs, backend, attrs }: Args): TensorInfo | null => {
    const { x } = inputs as Record<string, TensorInfo>;
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
    addon.reduce(op, xv, geo[0], geo[1], geo[2], o);
    return out(backend, shape, o);
  };
  add(Sum, reduce(0, 'axis'));
  add(Mean, reduce(1, 'axis'));
  add(Max, reduce(2, 'reductionIndices'));
  add(Min, reduce(3, 'axis'));

  // ---- unary ----
  const unary = (op: number) => ({ inputs, backend, attrs }: Args): TensorInfo | null => {
    const { x } = inputs as Record<string, TensorInfo>;
    const xv = f32(backend, x);
    if (!xv) return null;
    const n = size(x.shape);
    const o = empty(n);
    const alpha = (attrs as { alpha?: number } | undefined)?.alpha ?? 0;
    addon.unary(op, xv, o, n, alpha);
    return out(backend, [...x.shape], o);
  };
  add(Relu, unary(0));
  add(Neg, unary(1));
  add(Exp, unary(2));
  add(Log, unary(3));
  add(Sqrt, unary(4));
  add(Rsqrt, unary(5));
  add(Square, unary(6));
  add(Abs, unary(7));
  add(Step, unary(8));
  add(Sigmoid, unary(9));
  add(Relu6, unary(10));

  // ---- data movement: one native strided copy ----
  const strides = (shape: number[]): number[] => {
    const st = new Array<number>(shape.length);
    let t = 1;
    for (let i = shape.length - 1; i >= 0; i--) { st[i] = t; t *= shape[i]; }
    return st;
  };
  add(Slice, ({ inputs, backend, attrs }) => {
    const { x } = inputs as Record<string, TensorInfo>;
    const xv = f32(backend, x);
    if (!xv) return null;
    const at = attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [begin, sz] = slice_util.parseSliceParams(x as never, at.begin, at.size);
    slice_util.assertParamsValid(x as never, begin, sz);
    const n = size(sz);
    if (n === 0 || slice_util.isSliceContinous(x.shape, begin, sz)) return null; // cpu: zero-copy subarray
    const st = strides(x.shape);
    const off = begin.reduce((a, b, i) => a + b * st[i], 0);
    const o = empty(n);
    addon.stridedCopy(xv, off, st, o, 0, strides(sz), sz);
    return out(backend, sz, o);
  });
  add(Transpose, ({ inputs, backend, attrs }) => {
    const { x } = inputs as Record<string, TensorInfo>;
    const xv = f32(backend, x);
    if (!xv) return null;
    const perm = (attrs as unknown as { perm: number[] }).perm;
    const st = strides(x.shape);
    const os = perm.map((p) => x.shape[p]);
    const o = empty(size(os));
    addon.stridedCopy(xv, 0, perm.map((p) => st[p]), o, 0, strides(os), os);
    return out(backend, os, o);
  });
  add(Reverse, ({ inputs, backend, attrs }) => {
    const { x } = inputs as Record<string, TensorInfo>;
    const xv = f32(backend, x);
    if (!xv) return null;
    const dims = util.parseAxisParam((attrs as unknown as { dims: number | number[] }).dims, x.shape);
    const st = strides(x.shape);
    const sst = st.map((s, i) => (dims.includes(i) ? -s : s));
    const off = dims.reduce((a, d) => a + (x.shape[d] - 1) * st[d], 0);
    const o = empty(size(x.shape));
    addon.stridedCopy(xv, off, sst, o, 0, st, [...x.shape]);
    return out(backend, [...x.shape], o);
  });
  add(PadV2, ({ inputs, backend, attrs }) => {
    const { x } = inputs as Record<string, TensorInfo>;
    const xv = f32(backend, x);
    if (!xv) return null;
    const at = attrs as unknown as { paddings: [number, number][]; constantValue: number };
    const os = x.shape.map((d, i) => at.paddings[i][0] + d + at.paddings[i][1]);
    const o = empty(size(os));
    addon.fill(o, at.constantValue, o.length);
    const ost = strides(os);
    const off = at.paddings.reduce((a, p, i) => a + p[0] * ost[i], 0);
    if (size(x.shape) > 0) addon.stridedCopy(xv, 0, strides(x.shape), o, off, ost, [...x.shape]);
    return out(backend, os, o);
  });

  // ---- custom kernels behind src/backend/onednn/ops.ts (batch norm, ReLU gradient) ----
  const custom = (kernelName: string, fn: (args: Args) => TensorInfo | TensorInfo[]): void => {
    const kernelFunc = ((args: Args) => {
      count('native', kernelName);
      currentBackend = args.backend;
      return fn(args);
    }) as unknown as KernelFunc;
    kernels.push({ kernelName, backendName, kernelFunc });
  };
  const need = (backend: Backend, t: TensorInfo | undefined, what: string): Float32Array => {
    const v = t ? f32(backend, t) : null;
    if (!v) throw new Error(`onednn ${what}: expected a float32 tensor`);
    return v;
  };
  const rowsC = (shape: number[]): [number, number] => {
    const C = shape[shape.length - 1];
    return [size(shape) / C, C];
  };
  custom(GRADIA_BN_STATS, ({ inputs, backend }) => {
    const { x } = inputs as Record<string, TensorInfo>;
    const [rows, C] = rowsC(x.shape);
    const mean = new Float32Array(C);
    const variance = new Float32Array(C);
    addon.bnStats(need(backend, x, 'bnStats x'), rows, C, mean, variance);
    return [out(backend, [C], mean), out(backend, [C], variance)];
  });
  custom(GRADIA_BN_APPLY, ({ inputs, backend, attrs }) => {
    const i = inputs as Record<string, TensorInfo>;
    const [rows, C] = rowsC(i.x.shape);
    const y = empty(rows * C);
    const at = attrs as unknown as { eps: number; relu?: boolean };
    addon.bnApply(need(backend, i.x, 'bnApply x'), rows, C, need(backend, i.mean, 'bnApply mean'), need(backend, i.variance, 'bnApply variance'),
      need(backend, i.gamma, 'bnApply gamma'), need(backend, i.beta, 'bnApply beta'), at.eps, y, Boolean(at.relu));
    return out(backend, [...i.x.shape], y);
  });
  custom(GRADIA_BN_BACKWARD, ({ inputs, backend, attrs }) => {
    const i = inputs as Record<string, TensorInfo>;
    const [rows, C] = rowsC(i.x.shape);
    const dx = empty(rows * C);
    const dgamma = new Float32Array(C);
    const dbeta = new Float32Array(C);
    addon.bnBackward(need(backend, i.dy, 'bnBackward dy'), need(backend, i.x, 'bnBackward x'), rows, C, need(backend, i.mean, 'bnBackward mean'),
      need(backend, i.variance, 'bnBackward variance'), need(backend, i.gamma, 'bnBackward gamma'), (attrs as unknown as { eps: number }).eps,
      dx, dgamma, dbeta, i.reluOut ? need(backend, i.reluOut, 'bnBackward reluOut') : null);
    return [out(backend, [...i.x.shape], dx), out(backend, [C], dgamma), out(backend, [C], dbeta)];
  });
  custom(GRADIA_RELU_GRAD, ({ inputs, backend }) => {
    const { dy, y } = inputs as Record<string, TensorInfo>;
    const n = size(y.shape);
    const dx = empty(n);
    addon.reluGrad(need(backend, dy, 'reluGrad dy'), need(backend, y, 'reluGrad y'), dx, n);
    return out(backend, [...y.shape], dx);
  });

  custom(GRADIA_ADD_RELU, ({ inputs, backend }) => {
    const { a, b } = inputs as Record<string, TensorInfo>;
    if (!util.arraysEqual(a.shape, b.shape)) throw new Error(`onednn addRelu: shapes differ (${a.shape} vs ${b.shape})`);
    const n = size(a.shape);
    const y = empty(n);
    addon.addRelu(need(backend, a, 'addRelu a'), need(backend, b, 'addRelu b'), y, n);
    return out(backend, [...a.shape], y);
  });

  return kernels;
}

/** Kernel names of the custom ops (registered for the onednn backend only). */
export const GRADIA_BN_STATS = 'GradiaBnStats';
export const GRADIA_BN_APPLY = 'GradiaBnApply';
export const GRADIA_BN_BACKWARD = 'GradiaBnBackward';
export const GRADIA_RELU_GRAD = 'GradiaReluGrad';
export const GRADIA_ADD_RELU = 'GradiaAddRelu';
