// Every native kernel of the `onednn` backend against tfjs's reference cpu backend on small shapes:
// strides, same/valid/explicit/numeric paddings, 1x1/3x3/7x7 filters, dilation, broadcasting.
// Each case also checks that the native kernel (not the cpu fallback) ran.
// Skipped, with the reason, when the addon is not built (no libdnnl-dev).
import { describe, it, expect, beforeAll } from 'vitest';
import { tf } from '../src/backend/tf.js';
import { registerOnednnBackend, setOnednnThreads, kernelStats, onednnInfo } from '../src/backend/onednn/index.js';
import { onednnBatchNormTrain, onednnRelu, onednnOpsActive, onednnAdamStep, onednnAddRelu } from './helpers/onednn_ops.js';
import { adamStepJs, createAdamState, ADAM_DEFAULTS } from '../src/model/adam.js';
import { readTensorInto } from '../src/backend/read_into.js';

const info = onednnInfo();
if (!info.available) console.warn(`onednn kernel tests skipped: ${info.reason}`);

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
}
const rand = (n: number, seed: number, lo = -1, hi = 1) => { const r = rng(seed); return Float32Array.from({ length: n }, () => lo + (hi - lo) * r()); };
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Runs `build` on a backend; returns the outputs' values and shapes. */
async function runOn(backend: string, build: () => tf.Tensor[]): Promise<{ v: Float32Array; s: number[] }[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(build);
  const res = outs.map((t) => ({ v: t.dataSync() as Float32Array, s: t.shape }));
  tf.dispose(outs);
  return res;
}
function maxRel(a: Float32Array, b: Float32Array): number {
  let m = 0; let mb = 1e-12;
  for (let i = 0; i < a.length; i++) { m = Math.max(m, Math.abs(a[i] - b[i])); mb = Math.max(mb, Math.abs(b[i])); }
  return m / mb;
}
/** Compares onednn with cpu and asserts that each kernel in `kernels` ran natively at least once. */
async function compare(build: () => tf.Tensor[], kernels: string[], tol = 1e-5): Promise<void> {
  const before = kernels.map((k) => kernelStats.native[k] ?? 0);
  const got = await runOn('onednn', build);
  kernels.forEach((k, i) => expect(kernelStats.native[k] ?? 0, `native ${k} ran`).toBeGreaterThan(before[i]));
  const ref = await runOn('cpu', build);
  expect(got.length).toBe(ref.length);
  got.forEach((g, i) => {
    expect(g.s).toEqual(ref[i].s);
    expect(g.v.length).toBe(ref[i].v.length);
    expect(maxRel(g.v, ref[i].v), `output ${i}`).toBeLessThan(tol);
  });
}

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
const convCases: { name: string; x: number[]; k: number; co: number; s: number; pad: Pad; dil?: number }[] = [
  { name: '1x1 s1 valid', x: [2, 5, 5, 6], k: 1, co: 4, s: 1, pad: 'valid' },
  { name: '1x1 s2 valid (downsample)', x: [2, 8, 8, 4], k: 1, co: 8, s: 2, pad: 'valid' },
  { name: '3x3 s1 same', x: [2, 7, 7, 3], k: 3, co: 5, s: 1, pad: 'same' },
  { name: '3x3 s2 explicit 1', x: [2, 8, 8, 4], k: 3, co: 6, s: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { name: '3x3 s2 same, odd size (asymmetric pad)', x: [1, 9, 7, 3], k: 3, co: 4, s: 2, pad: 'same' },
  { name: '3x3 s2 valid, remainder', x: [2, 10, 9, 3], k: 3, co: 4, s: 2, pad: 'valid' },
  { name: '3x3 numeric pad 1', x: [1, 6, 6, 2], k: 3, co: 3, s: 1, pad: 1 },
  { name: '7x7 s2 explicit 3 (stem)', x: [2, 16, 16, 3], k: 7, co: 8, s: 2, pad: [[0, 0], [3, 3], [3, 3], [0, 0]] },
  { name: '3x3 dilation 2 same', x: [1, 9, 9, 3], k: 3, co: 4, s: 1, pad: 'same', dil: 2 },
  { name: '3x3 explicit asymmetric', x: [1, 7, 8, 2], k: 3, co: 3, s: 1, pad: [[0, 0], [0, 2], [1, 0], [0, 0]] },
];

describe.skipIf(!info.available)('onednn kernels vs cpu', () => {
  beforeAll(async () => {
    const r = await registerOnednnBackend();
    expect(r).toEqual({ ok: true });
  });

  for (const c of convCases) {
    it(`conv2d ${c.name}: forward, input and filter gradients`, async () => {
      const ci = c.x[3];
      const wShape = [c.k, c.k, ci, c.co];
      const xv = rand(numel(c.x), 1);
      const wv = rand(numel(wShape), 2);
      const build = () => {
        const x = tf.tensor4d(xv, c.x as [number, number, number, number]);
        const w = tf.tensor4d(wv, wShape as [number, number, number, number]);
        const y = tf.conv2d(x, w, c.s, c.pad as 'same', 'NHWC', c.dil ?? 1);
        if ((c.dil ?? 1) > 1) return [y]; // tfjs has no gradient for dilated convolutions
        const r = tf.tensor(rand(y.size, 3), y.shape);
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad as 'same', 'NHWC', c.dil ?? 1), r)))([x, w]);
        return [y, gx, gw];
      };
      const ks = (c.dil ?? 1) > 1 ? ['Conv2D'] : ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'];
      await compare(build, ks, 1e-5);
    });
  }

  it('fused conv2d with bias and relu / relu6 / leakyrelu; prelu falls back correctly', async () => {
    const xv = rand(2 * 6 * 6 * 3, 4);
    const wv = rand(3 * 3 * 3 * 5, 5);
    const bv = rand(5, 6);
    const build = () => {
      const x = tf.tensor4d(xv, [2, 6, 6, 3]);
      const w = tf.tensor4d(wv, [3, 3, 3, 5]);
      const bias = tf.tensor1d(bv);
      const outs = (['relu', 'relu6', 'leakyrelu', 'linear', 'sigmoid', 'elu'] as const).map((activation) =>
        tf.fused.conv2d({ x, filter: w, strides: 2, pad: 'same', bias, activation, leakyreluAlpha: 0.1 }));
      const prelu = tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'valid', bias, activation: 'prelu', preluActivationWeights: tf.scalar(0.3) });
      return [...outs, prelu];
    };
    await compare(build, ['FusedConv2D'], 1e-5);
  });

  const poolCases: { name: string; x: number[]; k: number; s: number; pad: Pad }[] = [
    { name: '3x3 s2 pad 1 (resnet stem)', x: [2, 8, 8, 3], k: 3, s: 2, pad: 1 },
    { name: '2x2 s2 valid', x: [1, 6, 6, 2], k: 2, s: 2, pad: 'valid' },
    { name: '3x3 s1 same', x: [2, 5, 5, 2], k: 3, s: 1, pad: 'same' },
    { name: '3x3 s2 same odd', x: [1, 7, 7, 4], k: 3, s: 2, pad: 'same' },
  ];
  /** Exact gradient of average pooling that excludes padding (as tfjs's forward and oneDNN do).
   *  tfjs's cpu AvgPoolGrad divides by the full window even where the forward excluded padding,
   *  so padded cases are checked against this instead. */
  function avgPoolGradRef(xShape: number[], k: number, s: number, pad: Pad, dy: Float32Array): Float32Array {
    const c = tf.backend_util.computePool2DInfo(xShape as [number, number, number, number], k, s, 1, pad as 'same');
    const [n, h, w, ch] = xShape;
    const dx = new Float32Array(numel(xShape));
    for (let b = 0; b < n; b++) for (let oy = 0; oy < c.outHeight; oy++) for (let ox = 0; ox < c.outWidth; ox++) {
      const y0 = oy * s - c.padInfo.top; const x0 = ox * s - c.padInfo.left;
      const ys: number[] = []; const xs: number[] = [];
      for (let i = 0; i < k; i++) { if (y0 + i >= 0 && y0 + i < h) ys.push(y0 + i); if (x0 + i >= 0 && x0 + i < w) xs.push(x0 + i); }
      const cnt = ys.length * xs.length;
      for (const yy of ys) for (const xx of xs) for (let d = 0; d < ch; d++) {
        dx[((b * h + yy) * w + xx) * ch + d] += dy[((b * c.outHeight + oy) * c.outWidth + ox) * ch + d] / cnt;
      }
    }
    return dx;
  }

  for (const c of poolCases) {
    it(`max and avg pooling ${c.name}: forward and gradient`, async () => {
      // distinct values: max pooling gradients are defined without ties
      const xv = rand(numel(c.x), 7);
      const grads = (withAvgGrad: boolean) => () => {
        const x = tf.tensor4d(xv, c.x as [number, number, number, number]);
        const mp = tf.maxPool(x, c.k, c.s, c.pad as 'same');
        const ap = tf.avgPool(x, c.k, c.s, c.pad as 'same');
        const r1 = tf.tensor(rand(mp.size, 8), mp.shape);
        const g1 = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, c.k, c.s, c.pad as 'same'), r1)))(x);
        if (!withAvgGrad) return [mp, ap, g1];
        const r2 = tf.tensor(rand(ap.size, 9), ap.shape);
        const g2 = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(a as tf.Tensor4D, c.k, c.s, c.pad as 'same'), r2)))(x);
        return [mp, ap, g1, g2];
      };
      await compare(grads(false), ['MaxPool', 'AvgPool', 'MaxPoolGrad'], 1e-5);
      const got = await runOn('onednn', grads(true));
      const outShape = got[1].s;
      const want = avgPoolGradRef(c.x, c.k, c.s, c.pad, rand(numel(outShape), 9));
      expect(maxRel(got[3].v, want)).toBeLessThan(1e-5);
      if (c.pad === 'valid') await compare(grads(true), ['AvgPoolGrad'], 1e-5); // no padding: tfjs agrees
    });
  }

  const bShapes: [number[], number[]][] = [
    [[2, 3, 4, 5], [2, 3, 4, 5]], [[2, 3, 4, 5], [5]], [[5], [2, 3, 4, 5]], [[2, 3, 4, 5], [2, 1, 1, 5]],
    [[3, 1], [1, 4]], [[1], [2, 3]], [[2, 3], []], [[], [4]], [[4, 1, 3], [2, 1]], [[2, 3, 4, 5], [3, 1, 1]],
  ];
  for (const [as, bs] of bShapes) {
    it(`binary ops broadcast [${as}] with [${bs}]`, async () => {
      const av = rand(numel(as), 10);
      const bv = rand(numel(bs), 11, 0.5, 2);
      const build = () => {
        const a = tf.tensor(av, as);
        const b = tf.tensor(bv, bs);
        return [tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.div(a, b), tf.maximum(a, b), tf.minimum(a, b), tf.squaredDifference(a, b)];
      };
      await compare(build, ['Add', 'Sub', 'Multiply', 'RealDiv', 'Maximum', 'Minimum', 'SquaredDifference'], 1e-6);
    });
  }

  it('binary ops on int32 fall back to the reference kernel', async () => {
    const build = () => [tf.add(tf.tensor([1, 2, 3], [3], 'int32'), tf.tensor([4], [1], 'int32')).toFloat()];
    const before = kernelStats.fallback.Add ?? 0;
    await compare(build, []);
    expect(kernelStats.fallback.Add ?? 0).toBeGreaterThan(before);
  });

  const redCases: { shape: number[]; axes: number[] | null; keep?: boolean }[] = [
    { shape: [2, 3, 4, 5], axes: [0, 1, 2] }, // batch-norm statistics
    { shape: [2, 3, 4, 5], axes: [1, 2] }, // global average pool
    { shape: [2, 3, 4, 5], axes: [3] },
    { shape: [2, 3, 4, 5], axes: [0] },
    { shape: [2, 3, 4, 5], axes: null },
    { shape: [2, 3, 4, 5], axes: [0, 1, 2], keep: true },
    { shape: [3, 4, 5], axes: [0, 2] }, // not contiguous: reference fallback
    { shape: [64, 1, 1, 7], axes: [0, 1, 2] }, // unit dims merge
    { shape: [40000, 3], axes: [0] }, // long reduction, split across threads
  ];
  for (const c of redCases) {
    it(`reductions sum/mean/max/min of [${c.shape}] over ${c.axes ? `[${c.axes}]` : 'all'}${c.keep ? ' keepDims' : ''}`, async () => {
      const xv = rand(numel(c.shape), 12);
      const build = () => {
        const x = tf.tensor(xv, c.shape);
        const ax = c.axes ?? undefined;
        return [tf.sum(x, ax, c.keep), tf.mean(x, ax, c.keep), tf.max(x, ax, c.keep), tf.min(x, ax, c.keep)];
      };
      const contiguous = !(c.axes && c.axes.length === 2 && c.axes[0] === 0 && c.axes[1] === 2);
      await compare(build, contiguous ? ['Sum', 'Max', 'Min'] : [], 1e-5);
    });
  }

  it('unary ops and their use in gradients (relu, step)', async () => {
    const xv = rand(3 * 50, 13, -2, 2);
    const pv = rand(3 * 50, 14, 0.1, 3);
    const build = () => {
      const x = tf.tensor2d(xv, [3, 50]);
      const p = tf.tensor2d(pv, [3, 50]);
      const gRelu = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), p)))(x);
      return [tf.relu(x), tf.neg(x), tf.exp(x), tf.log(p), tf.sqrt(p), tf.rsqrt(p), tf.square(x), tf.abs(x),
        tf.step(x, 0.3), tf.sigmoid(x), tf.relu6(tf.mul(x, 4)), gRelu];
    };
    await compare(build, ['Relu', 'Neg', 'Exp', 'Log', 'Sqrt', 'Rsqrt', 'Square', 'Abs', 'Step', 'Sigmoid', 'Relu6'], 1e-6);
  });

  it('matMul (transposes, batched, broadcast batch), fused matMul with bias + relu, addN', async () => {
    const build = () => {
      const a = tf.tensor2d(rand(12, 15), [3, 4]);
      const b = tf.tensor2d(rand(20, 16), [4, 5]);
      const at = tf.tensor2d(rand(12, 17), [4, 3]);
      const bt = tf.tensor2d(rand(20, 18), [5, 4]);
      const a3 = tf.tensor3d(rand(24, 19), [2, 3, 4]);
      const b3 = tf.tensor3d(rand(40, 20), [2, 4, 5]);
      const bias = tf.tensor1d(rand(5, 21));
      return [
        tf.matMul(a, b), tf.matMul(at, b, true, false), tf.matMul(a, bt, false, true), tf.matMul(at, bt, true, true),
        tf.matMul(a3, b3), tf.matMul(a3, tf.reshape(b, [1, 4, 5])),
        tf.fused.matMul({ a, b, bias, activation: 'relu' }), tf.fused.matMul({ a, b: bt, transposeB: true, bias }),
        tf.addN([a, a, tf.mul(a, 2)]),
      ];
    };
    await compare(build, ['BatchMatMul', '_FusedMatMul', 'AddN'], 1e-5);
  });

  it('slice, transpose, reverse and pad (strided copies), and their gradients', async () => {
    const xv = rand(2 * 5 * 6 * 3, 50);
    const build = () => {
      const x = tf.tensor4d(xv, [2, 5, 6, 3]);
      const r = tf.tensor(rand(2 * 3 * 4 * 2, 51), [2, 3, 4, 2]);
      const gSlice = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.slice(a, [0, 1, 2, 1], [2, 3, 4, 2]), r)))(x);
      const gT = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.transpose(a, [3, 1, 2, 0]), tf.transpose(x, [3, 1, 2, 0]))))(x);
      return [
        tf.slice(x, [0, 1, 2, 1], [2, 3, 4, 2]), tf.slice(x, [1, 0, 0, 0], [1, 5, 6, 3]), tf.slice(x, [0, 2, 0, 0], [2, 1, 6, 3]),
        tf.transpose(x, [3, 1, 2, 0]), tf.transpose(x, [1, 2, 0, 3]), tf.transpose(tf.tensor2d(rand(12, 52), [3, 4])),
        tf.reverse(x, [1, 2]), tf.reverse(x, 3), tf.reverse(x),
        tf.pad(x, [[0, 0], [1, 2], [0, 3], [0, 0]], 0.5), tf.pad(tf.tensor1d([1, 2, 3]), [[2, 1]]),
        gSlice, gT,
      ];
    };
    await compare(build, ['Slice', 'Transpose', 'Reverse', 'PadV2'], 1e-7); // exact copies (gradients: exact sums)
  });

  it('the thread count is honoured and results do not depend on it', async () => {
    const xv = rand(2 * 12 * 12 * 8, 22);
    const wv = rand(3 * 3 * 8 * 8, 23);
    const build = () => [tf.conv2d(tf.tensor4d(xv, [2, 12, 12, 8]), tf.tensor4d(wv, [3, 3, 8, 8]), 1, 'same')];
    setOnednnThreads(1);
    expect(onednnInfo().threads).toBe(1);
    const one = await runOn('onednn', build);
    setOnednnThreads(2);
    expect(onednnInfo().threads).toBe(2);
    const two = await runOn('onednn', build);
    expect(maxRel(one[0].v, two[0].v)).toBeLessThan(1e-6);
    expect(() => setOnednnThreads(0)).toThrow(RangeError);
  });

  // the second shape has rows (N*H*W) over several of the kernel's 64-row float blocks, split
  // unevenly over 2 OpenMP threads (rows*C above the parallel threshold)
  it.each([[[3, 5, 4, 6]], [[3, 25, 25, 20]]])('fused batch norm (train) and ReLU ops %j: values and gradients vs composite tfjs ops on cpu', async (shape) => {
    setOnednnThreads(2);
    const xv = rand(numel(shape), 30, -1, 3); // offset mean: checks the centred variance
    const C = shape[3];
    const gv = rand(C, 31, 0.5, 1.5);
    const bv = rand(C, 32);
    const rv = rand(numel(shape), 33);
    const eps = 1e-5;
    const reference = () => {
      const x = tf.tensor4d(xv, shape as [number, number, number, number]);
      const g = tf.tensor1d(gv); const b = tf.tensor1d(bv); const r = tf.tensor(rv, shape);
      const bn = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => {
        const mean = tf.mean(xi, [0, 1, 2]);
        const xc = tf.sub(xi, mean);
        const variance = tf.mean(tf.square(xc), [0, 1, 2]);
        return { y: tf.add(tf.mul(xc, tf.mul(tf.rsqrt(tf.add(variance, eps)), gi)), bi), mean, variance };
      };
      const loss = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(tf.relu(bn(xi, gi, bi).y), r));
      const o = bn(x, g, b);
      const gr = tf.grads(loss)([x, g, b]);
      return [o.y, o.mean, o.variance, tf.relu(o.y), ...gr, tf.relu(o.y), ...gr];
    };
    const fused = () => {
      expect(onednnOpsActive()).toBe(true);
      const x = tf.tensor4d(xv, shape as [number, number, number, number]);
      const g = tf.tensor1d(gv); const b = tf.tensor1d(bv); const r = tf.tensor(rv, shape);
      const loss = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(onednnRelu(onednnBatchNormTrain(xi, gi, bi, eps).y), r));
      const o = onednnBatchNormTrain(x, g, b, eps);
      const fusedLoss = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(onednnBatchNormTrain(xi, gi, bi, eps, { relu: true }).y, r));
      const fusedRelu = onednnBatchNormTrain(x, g, b, eps, { relu: true });
      return [o.y, o.mean, o.variance, onednnRelu(o.y), ...tf.grads(loss)([x, g, b]), fusedRelu.y, ...tf.grads(fusedLoss)([x, g, b])];
    };
    const before = ['GradiaBnStats', 'GradiaBnApply', 'GradiaBnBackward', 'GradiaReluGrad'].map((k) => kernelStats.native[k] ?? 0);
    const got = await runOn('onednn', fused);
    ['GradiaBnStats', 'GradiaBnApply', 'GradiaBnBackward', 'GradiaReluGrad'].forEach((k, i) => expect(kernelStats.native[k] ?? 0, k).toBeGreaterThan(before[i]));
    const ref = await runOn('cpu', reference);
    got.forEach((g, i) => {
      expect(g.s).toEqual(ref[i].s);
      expect(maxRel(g.v, ref[i].v), `output ${i}`).toBeLessThan(1e-5);
    });
  });

  it('batch-norm statistics stay accurate when |mean| >> std (checked in double precision)', async () => {
    await tf.setBackend('onednn');
    const C = 3; const rows = 5000;
    const xv = Float32Array.from(rand(rows * C, 63), (v, i) => 1000 * ((i % C) + 1) + v * 0.01);
    const { y, mean, variance } = onednnBatchNormTrain(tf.tensor2d(xv, [rows, C]), tf.ones([C]), tf.zeros([C]), 1e-5);
    const m = mean.dataSync(); const v = variance.dataSync();
    for (let c = 0; c < C; c++) {
      let s = 0; for (let r = 0; r < rows; r++) s += xv[r * C + c];
      const mu = s / rows;
      let q = 0; for (let r = 0; r < rows; r++) q += (xv[r * C + c] - mu) ** 2;
      expect(Math.abs(m[c] - mu) / mu).toBeLessThan(1e-7);
      expect(Math.abs(v[c] - q / rows) / (q / rows)).toBeLessThan(1e-4);
    }
    tf.dispose([y, mean, variance]);
  });

  it('fused add+relu: value and gradients for both inputs', async () => {
    const av = rand(2 * 3 * 4 * 5, 60); const bv = rand(2 * 3 * 4 * 5, 61); const rv = rand(2 * 3 * 4 * 5, 62);
    const mk = (fused: boolean) => () => {
      const a = tf.tensor4d(av, [2, 3, 4, 5]); const b = tf.tensor4d(bv, [2, 3, 4, 5]); const r = tf.tensor4d(rv, [2, 3, 4, 5]);
      const f = (x: tf.Tensor, y: tf.Tensor) => (fused ? onednnAddRelu(x, y) : tf.relu(tf.add(x, y)));
      return [f(a, b), ...tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x, y), r)))([a, b])];
    };
    const got = await runOn('onednn', mk(true));
    const ref = await runOn('cpu', mk(false));
    got.forEach((g, i) => expect(maxRel(g.v, ref[i].v), `output ${i}`).toBeLessThan(1e-6));
  });

  it('native Adam is bit-identical to src/model/adam.ts over several steps', () => {
    const n = 70001; // above the threading threshold
    const p1 = rand(n, 40); const p2 = p1.slice();
    const s1 = createAdamState(n); const s2 = createAdamState(n);
    const opts = { ...ADAM_DEFAULTS, lr: 3e-3 };
    for (let step = 0; step < 3; step++) {
      const g = rand(n, 41 + step, -2, 2);
      g[5] = 0; g[6] = 1e-30; g[7] = 1e10;
      adamStepJs(p1, g, s1, opts);
      onednnAdamStep(p2, g, s2, opts);
    }
    expect(s2.t).toBe(3);
    expect(Buffer.compare(Buffer.from(p1.buffer), Buffer.from(p2.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(s1.m.buffer), Buffer.from(s2.m.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(s1.v.buffer), Buffer.from(s2.v.buffer))).toBe(0);
    expect(() => onednnAdamStep(p2, new Float32Array(3), s2, opts)).toThrow(/length mismatch/);
  });

  it('the addon loads and runs in worker threads too (per-thread primitive caches and thread counts)', async () => {
    const { Worker } = await import('node:worker_threads');
    const { addonPath } = await import('../src/backend/onednn/addon.js');
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const a = require(workerData.path);
      a.setThreads(1);
      const x = new Float32Array(1 * 4 * 4 * 2).map((_, i) => (i % 7) - 3);
      const w = new Float32Array(3 * 3 * 2 * 3).map((_, i) => (i % 5) - 2);
      const y = new Float32Array(1 * 4 * 4 * 3);
      a.conv2d(x, w, null, y, [1, 4, 4, 2, 3, 3, 3, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1], 0, 0);
      parentPort.postMessage({ y, threads: a.getThreads() });`;
    const run = () => new Promise<{ y: Float32Array; threads: number }>((resolve, reject) => {
      const wk = new Worker(code, { eval: true, workerData: { path: addonPath() } });
      wk.once('message', (m) => { resolve(m); void wk.terminate(); });
      wk.once('error', reject);
    });
    const [r1, r2] = await Promise.all([run(), run()]);
    expect(r1.threads).toBe(1);
    expect(Array.from(r1.y)).toEqual(Array.from(r2.y));
    const ref = await runOn('cpu', () => [tf.conv2d(tf.tensor4d(new Float32Array(32).map((_, i) => (i % 7) - 3), [1, 4, 4, 2]),
      tf.tensor4d(new Float32Array(54).map((_, i) => (i % 5) - 2), [3, 3, 2, 3]), 1, 'same')]);
    expect(maxRel(r1.y, ref[0].v)).toBeLessThan(1e-6);
  });

  it('output buffers are pooled and reused, never while a tensor or a dataSync() array still uses them', async () => {
    await tf.setBackend('onednn');
    const b = tf.backend() as unknown as { poolStats: { hits: number; returned: number } };
    const x = tf.tensor2d(rand(64 * 600, 70), [64, 600]);
    const h0 = b.poolStats.hits;
    const r0 = b.poolStats.returned;
    for (let i = 0; i < 3; i++) tf.tidy(() => tf.relu(tf.neg(x)));
    expect(b.poolStats.returned).toBeGreaterThan(r0);
    expect(b.poolStats.hits).toBeGreaterThan(h0);
    // an escaped array (dataSync) keeps its values after dispose
    const y = tf.neg(x);
    const ys = y.dataSync();
    const copy = ys.slice();
    y.dispose();
    for (let i = 0; i < 3; i++) tf.tidy(() => tf.exp(tf.neg(x)));
    expect(Array.from(ys.subarray(0, 50))).toEqual(Array.from(copy.subarray(0, 50)));
    // a zero-copy slice keeps its parent's buffer alive in the pool's accounting
    const z = tf.neg(x);
    const row = tf.slice(z, [3, 0], [1, 600]); // contiguous: the cpu kernel returns a view
    z.dispose();
    for (let i = 0; i < 3; i++) tf.tidy(() => tf.sqrt(tf.abs(tf.neg(x))));
    expect(maxRel(row.dataSync() as Float32Array, Float32Array.from(x.dataSync().subarray(3 * 600, 4 * 600), (v) => -v))).toBe(0);
    tf.dispose([row, x]);
  });

  it('readTensorInto copies or adds a tensor into a flat vector without keeping its buffer out of the pool', async () => {
    await tf.setBackend('onednn');
    const b = tf.backend() as unknown as { poolStats: { returned: number } };
    const x = tf.tensor2d(rand(64 * 600, 71), [64, 600]);
    const y = tf.neg(x); // a native kernel's output: a pooled buffer
    const want = Float32Array.from(x.dataSync(), (v) => -v);
    const dst = new Float32Array(y.size + 5).fill(2);
    readTensorInto(y, dst, 5, false);
    expect(Array.from(dst.subarray(0, 5))).toEqual([2, 2, 2, 2, 2]);
    expect(maxRel(dst.subarray(5), want)).toBe(0);
    readTensorInto(y, dst, 5, true);
    expect(maxRel(dst.subarray(5), want.map((v) => v + v))).toBe(0);
    expect(() => readTensorInto(y, dst, 6, false)).toThrow(RangeError);
    const r0 = b.poolStats.returned;
    y.dispose();
    expect(b.poolStats.returned).toBe(r0 + 1); // back in the pool: it did not escape
    const z = tf.neg(x);
    z.dataSync(); // dataSync hands the array out: never pooled again
    const r1 = b.poolStats.returned;
    z.dispose();
    expect(b.poolStats.returned).toBe(r1);
    x.dispose();
  });

  it('no tensor leaks across native kernels', async () => {
    await tf.setBackend('onednn');
    const x = tf.tensor4d(rand(2 * 8 * 8 * 3, 24), [2, 8, 8, 3]);
    const w = tf.tensor4d(rand(27 * 4, 25), [3, 3, 3, 4]);
    const step = () => tf.tidy(() => tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.mean(tf.maxPool(onednnRelu(onednnBatchNormTrain(tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')),
        tf.onesLike(b).slice([0, 0, 0, 0], [1, 1, 1, 4]).reshape([4]), tf.zeros([4]), 1e-5).y), 3, 2, 1)))([x, w]));
    tf.dispose(step());
    const n = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(step());
    expect(tf.memory().numTensors).toBe(n);
    tf.dispose([x, w]);
  });
});
