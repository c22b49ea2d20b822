// The forward-convolution gradient of src/model/conv.ts against tfjs's own conv gradient
// (cpu backend, which has both backprop kernels) and finite differences.
import { describe, it, expect, beforeAll } from 'vitest';
import { tf } from '../src/backend/tf.js';
import { conv2d, convForward } from '../src/model/conv.js';

function rel(a: tf.Tensor, b: tf.Tensor): number {
  const da = a.dataSync();
  const db = b.dataSync();
  let m = 0;
  let mb = 0;
  for (let i = 0; i < da.length; i++) {
    m = Math.max(m, Math.abs(da[i] - db[i]));
    mb = Math.max(mb, Math.abs(db[i]));
  }
  return m / mb;
}

const CASES: Array<[number, number, number, number, number, number]> = [
  // h, k, stride, pad, cin, cout
  [16, 7, 2, 3, 3, 5],
  [8, 3, 1, 1, 4, 6],
  [8, 3, 2, 1, 4, 6],
  [8, 1, 2, 0, 4, 6],
  [8, 1, 1, 0, 4, 3],
  [9, 3, 2, 1, 2, 3],
  [7, 3, 2, 0, 2, 3],
];

function check(backend: string): void {
  for (const [h, k, s, p, ci, co] of CASES) {
    it(`${backend}: h${h} k${k} s${s} p${p}`, async () => {
      await tf.setBackend(backend);
      const x = tf.randomNormal([2, h, h, ci], 0, 1, 'float32', 1) as tf.Tensor4D;
      const w = tf.randomNormal([k, k, ci, co], 0, 1, 'float32', 2) as tf.Tensor4D;
      const r = tf.randomNormal(convForward(x, w, s, p).shape, 0, 1, 'float32', 3);
      const f1 = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, p), r));
      const [gx, gw] = tf.grads(f1)([x, w]);
      const xd = x.dataSync().slice();
      const wd = w.dataSync().slice();
      const rd = r.dataSync().slice();
      await tf.setBackend('cpu');
      const xc = tf.tensor4d(xd, x.shape);
      const wc = tf.tensor4d(wd, w.shape);
      const rc = tf.tensor(rd, r.shape);
      const f2 = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(convForward(a as tf.Tensor4D, b as tf.Tensor4D, s, p), rc));
      const [ex, ew] = tf.grads(f2)([xc, wc]);
      expect(rel(tf.tensor(gx.dataSync(), gx.shape), ex)).toBeLessThan(1e-5);
      expect(rel(tf.tensor(gw.dataSync(), gw.shape), ew)).toBeLessThan(1e-5);
    });
  }
}

describe('conv2d custom gradient', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  check('cpu');
  check('wasm');

  it('finite differences (cpu, float32 central differences)', async () => {
    await tf.setBackend('cpu');
    const x = tf.randomNormal([1, 6, 6, 2], 0, 1, 'float32', 5) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 2, 2], 0, 1, 'float32', 6) as tf.Tensor4D;
    const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 1)));
    const [, gw] = tf.grads(f)([x, w]);
    const g = gw.dataSync();
    const wd = w.dataSync();
    const eps = 1e-2;
    for (const i of [0, 7, 20, 35]) {
      const plus = wd.slice(); plus[i] += eps;
      const minus = wd.slice(); minus[i] -= eps;
      const fp = f(x, tf.tensor4d(plus, w.shape)).dataSync()[0];
      const fm = f(x, tf.tensor4d(minus, w.shape)).dataSync()[0];
      expect(Math.abs((fp - fm) / (2 * eps) - g[i])).toBeLessThan(1e-2 * Math.max(1, Math.abs(g[i])));
    }
  });
});
