// The explanation objectives (src/model/objectives): each one's loss and gradient against
// a PyTorch fixture made from RES's definitions (scripts/make_objectives_fixture.py) on
// hand-made cams and labels (positive, negative, empty, constant cam), a finite-difference
// check of each gradient, RES's threshold search against its brute-force definition on
// random cases with ties, and GRADIA's default bit for bit as before.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../src/backend/tf.js';
import { repoRoot } from '../src/util/paths.js';
import { createModel, disposeModel, computeGradients, gradCam, forward, crossEntropy, attentionL1, hashWeights, minMaxNormalise, torchToTf } from '../src/model/index.js';
import type { Model, TrainBatch } from '../src/model/index.js';
import {
  attachImputation, imputationSpecs, objectiveFor, robustConstants, robustThreshold,
  type ImputationKind, type ImputationParams, type ObjectiveName, type ObjectiveSettings, type RobustConstants,
} from '../src/model/objectives/index.js';
import { hashUniform } from '../src/model/hashinit.js';

interface FixtureCase {
  objective: ObjectiveName; eta: number; imputation: ImputationKind | null; reg: number;
  loss: number; gradX: number[]; perSample?: number[]; threshold?: number;
  gradParams?: Record<string, { every: number[]; absSum: number }>;
}
const fixture = JSON.parse(fs.readFileSync(path.join(repoRoot, 'tests/fixtures/objectives/objectives.json'), 'utf8')) as {
  grid: number; size: number; gradStride: number; x: number[][][]; y: number[][][]; rects: (number[] | null)[]; cases: FixtureCase[];
};
const G = fixture.grid;
const S = fixture.size;
const N = fixture.x.length;
const X = Float32Array.from(fixture.x.flat(2));
const Y = Float32Array.from(fixture.y.flat(2));

beforeAll(async () => {
  await tf.setBackend('wasm');
});

function masks(): Float32Array {
  const m = new Float32Array(N * S * S);
  fixture.rects.forEach((r, i) => {
    if (!r) return;
    for (let y = r[0]!; y < r[1]!; y++) for (let x = r[2]!; x < r[3]!; x++) m[(i * S + y) * S + x] = 1;
  });
  return m;
}
const IMAGES = Float32Array.from(hashUniform('objectives/images', N * S * S * 3)); // NHWC, as the script

/** An imputation network holding the fixture's hash weights. */
function imputationNet(kind: ImputationKind): { model: Model; net: ImputationParams } {
  const model = createModel('tiny18', 2, 0);
  const net = attachImputation(model, kind, 0);
  for (const s of imputationSpecs(kind)) {
    const t = tf.tensor(torchToTf(s, hashWeights(s)), s.shape, 'float32');
    net.vars.get(s.name)!.assign(t);
    t.dispose();
  }
  return { model, net };
}

/** RES's batch loss over the fixture's samples (every weight 1) as losses.ts forms it: sum_i L_i / n. */
function batchLoss(c: FixtureCase, x: tf.Tensor3D, net: ImputationParams | null, robust: RobustConstants | null, images: tf.Tensor4D): tf.Scalar {
  const settings: ObjectiveSettings = { objective: c.objective, imputation: c.imputation ?? 's1', eta: c.eta, imputationReg: c.reg };
  const per = objectiveFor(c.objective).perSample({
    cam: minMaxNormalise(x), target: Y, n: N, grid: G, images, masks: objectiveFor(c.objective).needsMasks ? masks() : null, robust, imputation: net, settings,
  });
  return tf.div(tf.sum(per), N) as tf.Scalar;
}

/** The global batch's constants, as the replicas derive them (samples in index order). */
function constantsOf(c: FixtureCase, x: Float32Array): RobustConstants | null {
  if (!objectiveFor(c.objective).robust) return null;
  const cams = tf.tidy(() => minMaxNormalise(tf.tensor3d(x, [N, G, G])).dataSync() as Float32Array);
  const records = Array.from({ length: N }, (_, i) => ({ index: i, weight: 1, cam: cams.subarray(i * G * G, (i + 1) * G * G), label: Y.subarray(i * G * G, (i + 1) * G * G) }));
  return robustConstants(records, N, c.eta);
}

const close = (got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string) => {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `${what}[${i}]: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want[i]!)));
};

const label = (c: FixtureCase) => `${c.objective}${c.imputation ? ` ${c.imputation}` : ''}${c.eta ? ` eta ${c.eta}` : ''}${c.reg ? ` reg ${c.reg}` : ''}`;

describe('objectives against the PyTorch fixture (RES definitions)', () => {
  for (const c of fixture.cases) {
    it(`${label(c)}: loss, per-sample losses, threshold and gradients`, () => {
      const { model, net } = c.imputation ? imputationNet(c.imputation) : { model: null, net: null };
      try {
        const robust = constantsOf(c, X);
        if (c.threshold !== undefined) expect(robust!.threshold).toBe(Math.fround(c.threshold));
        const images = tf.tensor4d(IMAGES, [N, S, S, 3]);
        const vars = net ? [...net.vars.values()] : [];
        const x = tf.variable(tf.tensor3d(X, [N, G, G]), true, `x-${label(c)}`);
        const { value, grads } = tf.variableGrads(() => batchLoss(c, x, net, robust, images), [x, ...vars]);
        expect(Math.abs(value.dataSync()[0]! - c.loss)).toBeLessThanOrEqual(2e-6 * Math.max(1, c.loss));
        close(grads[x.name]!.dataSync(), c.gradX, 2e-5, 'd loss / d x');
        if (c.perSample) {
          const per = tf.tidy(() => objectiveFor(c.objective).perSample({
            cam: minMaxNormalise(x), target: Y, n: N, grid: G, images, masks: null, robust: null, imputation: null,
            settings: { objective: c.objective, imputation: 's1', eta: 0, imputationReg: 0 },
          }).dataSync());
          close(per, c.perSample, 2e-6, 'per-sample loss');
        }
        for (const [key, want] of Object.entries(c.gradParams ?? {})) {
          const spec = imputationSpecs(c.imputation!).find((s) => s.name === key)!;
          const tfLayout = grads[net!.vars.get(key)!.name]!.dataSync() as Float32Array;
          // back to torch layout (the inverse of torchToTf is a permutation: find it by index)
          const n = tfLayout.length;
          const idx = torchToTf(spec, Float32Array.from({ length: n }, (_, i) => i));
          const torch = new Float32Array(n);
          for (let t = 0; t < n; t++) torch[idx[t]!] = tfLayout[t]!;
          const every = torch.filter((_, i) => i % fixture.gradStride === 0);
          close(every, want.every, 2e-4, `d loss / d ${key}`);
          const absSum = torch.reduce((a, v) => a + Math.abs(v), 0);
          expect(Math.abs(absSum - want.absSum), `|d loss / d ${key}|_1`).toBeLessThanOrEqual(2e-4 * Math.max(1, want.absSum));
        }
        tf.dispose([value, images, x, ...Object.values(grads)]);
      } finally {
        if (model) disposeModel(model);
      }
    });
  }

  it('the constant-cam sample normalises to zeros and gives finite gradients', () => {
    const c = fixture.cases.find((k) => k.objective === 'haics')!;
    const g = c.gradX.slice(3 * G * G);
    expect(g.every(Number.isFinite)).toBe(true);
  });
});

describe('finite differences', () => {
  // Each objective's gradient w.r.t. the raw cams against central differences of its own
  // loss (float32, h = 1e-3; the robust constants held fixed, as in training). Generic
  // cams (no ties, no pixel where c equals its target) so that the loss is smooth there.
  const r = hashUniform('objectives/fd', N * G * G);
  const x0 = Float32Array.from(r, (v, i) => v * 1.5 + (i % 7) * 0.01);
  for (const c of fixture.cases.filter((k) => k.objective !== 'res-l' || k.imputation === 's1')) {
    it(`${label(c)}`, () => {
      const { model, net } = c.imputation ? imputationNet(c.imputation) : { model: null, net: null };
      const images = tf.tensor4d(IMAGES, [N, S, S, 3]);
      try {
        const robust = constantsOf(c, x0);
        const loss = (xs: Float32Array) => tf.tidy(() => batchLoss(c, tf.tensor3d(xs, [N, G, G]), net, robust, images).dataSync()[0]!);
        const grad = tf.tidy(() => tf.grad((x: tf.Tensor) => batchLoss(c, x as tf.Tensor3D, net, robust, images))(tf.tensor3d(x0, [N, G, G])).dataSync() as Float32Array);
        const h = 1e-3;
        let checked = 0;
        for (let i = 0; i < x0.length; i++) {
          const up = Float32Array.from(x0); up[i] += h;
          const dn = Float32Array.from(x0); dn[i] -= h;
          const fd = (loss(up) - loss(dn)) / (2 * h);
          expect(Math.abs(fd - grad[i]!), `x[${i}]: finite difference ${fd}, gradient ${grad[i]}`).toBeLessThan(3e-3 + 1e-2 * Math.abs(fd));
          checked++;
        }
        expect(checked).toBe(N * G * G);
        expect(grad.some((v) => Math.abs(v) > 1e-3)).toBe(true);
      } finally {
        images.dispose();
        if (model) disposeModel(model);
      }
    });
  }
});

/** RES's BF_solver, literally: every candidate in its order, satisfied fractions, strict improvement (exact fractions). */
function bruteForce(cams: Float32Array, labels: Float32Array): number {
  const neg = [...labels.keys()].filter((i) => labels[i]! < 0);
  const pos = [...labels.keys()].filter((i) => labels[i]! > 0);
  let a = 0;
  let best: [number, number] = [0, 1]; // a fraction p / q
  const cands = [...neg.map((i) => Math.fround(cams[i]! + Math.fround(1e-4))), ...pos.map((i) => cams[i]!)];
  for (const v of cands) {
    const k = neg.filter((i) => v > cams[i]!).length;
    const m = pos.filter((i) => v <= cams[i]!).length;
    // k / |neg| + m / |pos| as p / q (an empty side counts nothing)
    const p = (neg.length ? k * Math.max(1, pos.length) : 0) + (pos.length ? m * Math.max(1, neg.length) : 0);
    const q = Math.max(1, neg.length) * Math.max(1, pos.length);
    if (p * best[1] > best[0] * q) { a = v; best = [p, q]; }
  }
  return a;
}

describe('robust threshold search', () => {
  it('matches the brute-force definition on 400 random cases with ties (few distinct values, empty sides)', () => {
    let seed = 12345;
    const rnd = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 4294967296; };
    let negOnly = 0;
    let posOnly = 0;
    let none = 0;
    for (let t = 0; t < 400; t++) {
      const n = 1 + Math.floor(rnd() * 60);
      const levels = 1 + Math.floor(rnd() * 6); // few distinct cam values: many ties
      const cams = Float32Array.from({ length: n }, () => Math.floor(rnd() * levels) / Math.max(1, levels - 1));
      // some values 1e-4 apart, so that a negative's candidate lands on another pixel's value
      for (let i = 0; i < n; i += 5) cams[i] = Math.fround(cams[i]! + Math.fround(1e-4));
      const mode = t % 10;
      const labels = Float32Array.from({ length: n }, () => {
        const u = rnd();
        if (mode === 0) return u < 0.5 ? -1 : 0;
        if (mode === 1) return u < 0.5 ? 1 : 0;
        if (mode === 2) return 0;
        return u < 0.35 ? -1 : u < 0.7 ? 1 : 0;
      });
      if (!labels.some((v) => v > 0) && labels.some((v) => v < 0)) negOnly++;
      if (!labels.some((v) => v < 0) && labels.some((v) => v > 0)) posOnly++;
      if (!labels.some((v) => v !== 0)) none++;
      expect(robustThreshold(cams, labels), `case ${t}: cams ${Array.from(cams)} labels ${Array.from(labels)}`).toBe(bruteForce(cams, labels));
    }
    expect(negOnly).toBeGreaterThan(10);
    expect(posOnly).toBeGreaterThan(10);
    expect(none).toBeGreaterThan(10);
  });

  it('hand-made: the first best candidate wins a tie; negatives before positives; none labelled gives 0', () => {
    // negatives at 0.2 and 0.6, positives at 0.4 and 0.8: a = 0.2 + 1e-4 satisfies neg 0.2 and both
    // positives (score 1/2 + 1) and so does a = 0.4 (same score): the negative's candidate comes first
    expect(robustThreshold([0.2, 0.4, 0.6, 0.8], [-1, 1, -1, 1])).toBe(Math.fround(Math.fround(0.2) + Math.fround(1e-4)));
    // only positives: the smallest positive satisfies all of them; the first of equal ones wins
    expect(robustThreshold([0.7, 0.3, 0.3, 0.9], [1, 1, 1, 1])).toBe(Math.fround(0.3));
    expect(robustThreshold([0.5, 0.1], [0, 0])).toBe(0);
  });

  it('an empty global batch of labels shuts the robust term (no NaN, unlike RES\'s 0 / 0)', () => {
    const k = robustConstants([{ index: 0, weight: 1, cam: new Float32Array(9), label: new Float32Array(9) }], 1, 0);
    expect(k).toEqual({ threshold: 0, gate: 0, pixelScale: 0, eta: 0 });
  });
});

describe('gradia stays bit for bit what it was', () => {
  it('the default objective and --objective gradia give the old losses and gradients exactly (targets in [0, 1])', () => {
    const model = createModel('tiny18', 2, 3);
    try {
      const size = 96;
      const g = 3;
      const n = 4;
      const images = Float32Array.from(hashUniform('objectives/gradia-images', n * size * size * 3));
      const targets = Float32Array.from(hashUniform('objectives/gradia-targets', n * g * g), (v) => Math.abs(v));
      const batch: TrainBatch = { n, size, images, labels: Int32Array.from([0, 1, 1, 0]), predWeight: Float32Array.from([1, 0.5, 1, 1]), attWeight: Float32Array.from([1, 1.6, 0, 0.3]), targets };
      const norm = { globalBatch: 8, globalAttCount: 5 };
      const vars = [...model.params.values()];
      // the loss as losses.ts computed it before the objectives existed
      const before = tf.variableGrads(() => {
        const x = tf.tensor4d(images, [n, size, size, 3]);
        const { logits, features } = forward(model, x, { training: false });
        const onehot = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), 2).toFloat() as tf.Tensor2D;
        const taskSum = tf.sum(tf.mul(crossEntropy(logits, onehot), tf.tensor1d(batch.predWeight)));
        const l1 = attentionL1(gradCam(model, features, onehot, 'closed'), tf.tensor3d(targets, [n, g, g]));
        const attSum = tf.sum(tf.mul(l1, tf.tensor1d(batch.attWeight)));
        return tf.add(tf.div(taskSum, norm.globalBatch), tf.mul(attSum, 1.5 / norm.globalAttCount)) as tf.Scalar;
      }, vars);
      const flat = (grads: Record<string, tf.Tensor>) => vars.map((v) => Array.from(grads[v.name]!.dataSync())).flat();
      const want = flat(before.grads);
      for (const objective of [undefined, { settings: { objective: 'gradia' as const, imputation: 's1' as const, eta: 0, imputationReg: 0 }, imputation: null }]) {
        const r = computeGradients(model, [batch], norm, { attentionWeight: 1.5, cam: 'closed', freezeBn: true, ...(objective ? { objective } : {}) });
        expect(Buffer.from(r.grads.buffer).equals(Buffer.from(Float32Array.from(want).buffer))).toBe(true);
      }
      tf.dispose([before.value, ...Object.values(before.grads)]);
    } finally {
      disposeModel(model);
    }
  });
});
