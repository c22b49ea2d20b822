// Model core on the tiny architectures (cpu and wasm): names, shapes, BN semantics,
// gradient accumulation, Grad-CAM closed form vs autodiff, attention-loss gradient vs
// finite differences, no NaN, no tensor leaks.
import { describe, it, expect, beforeAll } from 'vitest';
import { tf } from '../src/backend/tf.js';
import { registerOnednnBackend } from '../src/backend/onednn/index.js';
import {
  createModel, disposeModel, forward, computeGradients, evaluateBatch, readParams, writeParams, readBuffers,
  writeBuffers, paramLayout, bufferLayout, gradCamClosed, gradCamAutodiff, head, features, minMaxNormalise, tensorSpecs, convLayers,
  applyHashWeights,
} from '../src/model/index.js';
import type { Model, TrainBatch } from '../src/model/index.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
}

function makeBatch(n: number, size: number, seed: number, classes: number, att: number[] | null = null): TrainBatch {
  const r = rng(seed);
  const g = size / 32;
  const images = new Float32Array(n * size * size * 3).map(() => r() * 2 - 1);
  const labels = Int32Array.from({ length: n }, () => Math.floor(r() * classes));
  const predWeight = Float32Array.from({ length: n }, (_, i) => [1, 0.4, 0.8, 1][i % 4]);
  const attWeight = Float32Array.from({ length: n }, (_, i) => (att ? att[i] : [1, 1.6, 0.2, 0][i % 4]));
  const targets = new Float32Array(n * g * g).map(() => r());
  return { n, size, images, labels, predWeight, attWeight, targets };
}

function sliceBatch(b: TrainBatch, from: number, to: number): TrainBatch {
  const per = b.size * b.size * 3;
  const g2 = (b.size / 32) ** 2;
  return {
    n: to - from, size: b.size, images: b.images.slice(from * per, to * per), labels: b.labels.slice(from, to),
    predWeight: b.predWeight.slice(from, to), attWeight: b.attWeight.slice(from, to), targets: b.targets.slice(from * g2, to * g2),
  };
}

function maxRel(a: Float32Array, b: Float32Array): number {
  let m = 0; let mb = 0;
  for (let i = 0; i < a.length; i++) { m = Math.max(m, Math.abs(a[i] - b[i])); mb = Math.max(mb, Math.abs(b[i])); }
  return m / mb;
}

describe('architecture', () => {
  it('convLayers: every convolution with its input size; multiply-adds at 224 px equal torchvision\'s', () => {
    const macs = (arch: 'resnet18' | 'resnet50') => convLayers(arch, 224).reduce((sum, c) => {
      const o = Math.floor((c.inSize + 2 * c.pad - c.kernel) / c.stride) + 1;
      return sum + o * o * c.kernel * c.kernel * c.inChannels * c.outChannels;
    }, 0);
    // counted with forward hooks on torchvision's Conv2d modules (torch 1.13, 1x3x224x224)
    expect(macs('resnet18')).toBe(1813561344);
    expect(macs('resnet50')).toBe(4087136256);
    const r50 = convLayers('resnet50', 224);
    expect(r50.length).toBe(53);
    expect(r50.find((c) => c.name === 'layer2.0.conv2')).toEqual({ name: 'layer2.0.conv2', inSize: 56, kernel: 3, inChannels: 128, outChannels: 128, stride: 2, pad: 1 });
    expect(r50.find((c) => c.name === 'layer2.0.downsample.0')).toEqual({ name: 'layer2.0.downsample.0', inSize: 56, kernel: 1, inChannels: 256, outChannels: 512, stride: 2, pad: 0 });
    expect(convLayers('resnet18', 96).at(-1)).toEqual({ name: 'layer4.1.conv2', inSize: 3, kernel: 3, inChannels: 512, outChannels: 512, stride: 1, pad: 1 });
  });

  it('resnet18/50 keys and shapes follow torchvision', () => {
    const s50 = tensorSpecs('resnet50', 1000);
    const names = s50.map((s) => s.name);
    expect(names.slice(0, 6)).toEqual(['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked']);
    expect(names).toContain('layer1.0.downsample.0.weight');
    expect(names).toContain('layer4.2.bn3.num_batches_tracked');
    expect(names.at(-1)).toBe('fc.bias');
    expect(s50.length).toBe(320); // len(torchvision.models.resnet50().state_dict())
    const nParams = s50.filter((s) => !s.isBuffer).reduce((a, s) => a + s.torchShape.reduce((x, y) => x * y, 1), 0);
    expect(nParams).toBe(25557032);
    const s18 = tensorSpecs('resnet18', 1000);
    expect(s18.length).toBe(122);
    expect(s18.filter((s) => !s.isBuffer).reduce((a, s) => a + s.torchShape.reduce((x, y) => x * y, 1), 0)).toBe(11689512);
    expect(s18.map((s) => s.name)).not.toContain('layer1.0.downsample.0.weight');
    expect(s18.find((s) => s.name === 'layer2.0.conv1.weight')!.torchShape).toEqual([128, 64, 3, 3]);
    expect(s50.find((s) => s.name === 'layer2.0.conv2.weight')!.torchShape).toEqual([128, 128, 3, 3]);
    expect(tensorSpecs('resnet34', 1000).filter((s) => !s.isBuffer).reduce((a, s) => a + s.torchShape.reduce((x, y) => x * y, 1), 0)).toBe(21797672);
  });
});

// onednn joins when its addon is built (CI builds it; tests/onednn_fallback covers its absence)
const coreBackends = ['cpu', 'wasm'];
if ((await registerOnednnBackend()).ok) coreBackends.push('onednn');

for (const backend of coreBackends) {
  describe(`model core on ${backend}`, () => {
    let model: Model;
    beforeAll(async () => {
      await tf.setBackend(backend);
    });
    it('forward shapes, BN buffers update once per training forward', async () => {
      await tf.setBackend(backend);
      model = createModel('tiny18', 3, 7);
      const x = tf.tensor4d(makeBatch(2, 64, 1, 3).images, [2, 64, 64, 3]);
      const before = readBuffers(model);
      const ev = forward(model, x, { training: false });
      expect(ev.logits.shape).toEqual([2, 3]);
      expect(ev.features.shape).toEqual([2, 2, 2, 64]);
      expect(readBuffers(model)).toEqual(before);
      const tr = tf.tidy(() => forward(model, x, { training: true }).logits);
      const after = readBuffers(model);
      const bl = bufferLayout(model);
      const nbt = bl.names.indexOf('bn1.num_batches_tracked');
      expect(after[bl.offsets[nbt]]).toBe(1);
      // running_mean of bn1 = 0.9 * 0 + 0.1 * batch mean of conv1's output
      const rmI = bl.names.indexOf('bn1.running_mean');
      const conv1 = tf.conv2d(x, model.params.get('conv1.weight')! as unknown as tf.Tensor4D, 2, [[0, 0], [3, 3], [3, 3], [0, 0]]);
      const mean = tf.mean(conv1, [0, 1, 2]).dataSync();
      for (let c = 0; c < 8; c++) expect(after[bl.offsets[rmI] + c]).toBeCloseTo(0.1 * mean[c], 5);
      // running_var uses the unbiased variance
      const rvI = bl.names.indexOf('bn1.running_var');
      const m = tf.moments(conv1, [0, 1, 2]);
      const cnt = 2 * 32 * 32;
      const v = m.variance.dataSync();
      for (let c = 0; c < 8; c++) expect(after[bl.offsets[rvI] + c]).toBeCloseTo(0.9 + 0.1 * v[c] * cnt / (cnt - 1), 4);
      tf.dispose([x, tr, ev.logits, ev.features, conv1, m.mean, m.variance]);
    });

    it('closed-form and autodiff Grad-CAM agree to 1e-5', () => {
      for (const arch of ['tiny18', 'tiny50'] as const) {
        const mm = createModel(arch, 4, 3);
        applyHashWeights(mm);
        tf.tidy(() => {
          const x = tf.tensor4d(makeBatch(3, 64, 2, 4).images, [3, 64, 64, 3]);
          const f = features(mm, x, false);
          const onehot = tf.oneHot(tf.tensor1d([0, 3, 1], 'int32'), 4).toFloat() as tf.Tensor2D;
          const a = gradCamClosed(mm, f, onehot).dataSync() as Float32Array;
          const b = gradCamAutodiff(f, onehot, (t) => head(mm, t)).dataSync() as Float32Array;
          expect(maxRel(b, a)).toBeLessThan(1e-5);
        });
        disposeModel(mm);
      }
    });

    it('min-max normalisation of a constant cam gives zeros and finite gradients', () => {
      tf.tidy(() => {
        const c = tf.fill([2, 3, 3], 0.7) as tf.Tensor3D;
        expect(Array.from(minMaxNormalise(c).dataSync())).toEqual(new Array(18).fill(0));
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.abs(tf.sub(minMaxNormalise(t as tf.Tensor3D), 0.3))))(c);
        expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
      });
    });

    it('batch of 8 gradient = sum of two micro-batches of 4 (BN frozen)', () => {
      const mm = createModel('tiny50', 2, 11);
      applyHashWeights(mm);
      const b = makeBatch(8, 32, 5, 2);
      const norm = { globalBatch: 8, globalAttCount: 6 };
      const opts = { attentionWeight: 1.5, cam: 'closed' as const, freezeBn: true };
      const buf = readBuffers(mm);
      const whole = computeGradients(mm, [b], norm, opts);
      expect(readBuffers(mm)).toEqual(buf); // frozen: running stats untouched
      const split = computeGradients(mm, [sliceBatch(b, 0, 4), sliceBatch(b, 4, 8)], norm, opts);
      expect(maxRel(split.grads, whole.grads)).toBeLessThan(1e-5);
      // a reused output array (here dirty, with room to spare) gets exactly the same gradients, in place
      const out = new Float32Array(whole.grads.length + 3).fill(7);
      const reused = computeGradients(mm, [sliceBatch(b, 0, 4), sliceBatch(b, 4, 8)], norm, opts, out);
      expect(reused.grads.buffer).toBe(out.buffer);
      expect(reused.grads).toEqual(split.grads);
      expect(Array.from(out.subarray(whole.grads.length))).toEqual([7, 7, 7]);
      expect(() => computeGradients(mm, [b], norm, opts, new Float32Array(10))).toThrow(RangeError);
      expect(split.n).toBe(8);
      expect(split.nAtt).toBe(6);
      expect(whole.attLossSum).toBeGreaterThan(0);
      expect(Math.abs(split.taskLossSum - whole.taskLossSum)).toBeLessThan(1e-5 * whole.taskLossSum);
      expect(Math.abs(split.attLossSum - whole.attLossSum)).toBeLessThan(1e-5 * whole.attLossSum);
      // two workers, each with its own Normaliser-consistent half, sum to the same
      const w1 = computeGradients(mm, [sliceBatch(b, 0, 4)], norm, opts);
      const w2 = computeGradients(mm, [sliceBatch(b, 4, 8)], norm, opts);
      expect(maxRel(w1.grads.map((v, i) => v + w2.grads[i]), whole.grads)).toBeLessThan(1e-5);
      disposeModel(mm);
    });

    it('train-mode micro-batches update BN once each; no NaN without attention samples; no tensor leaks', () => {
      const mm = createModel('tiny18', 2, 12);
      const b = makeBatch(4, 32, 6, 2);
      const norm = { globalBatch: 4, globalAttCount: 3 };
      const opts = { attentionWeight: 1, cam: 'closed' as const };
      const r = computeGradients(mm, [sliceBatch(b, 0, 2), sliceBatch(b, 2, 4)], norm, opts);
      expect(r.grads.every(Number.isFinite)).toBe(true);
      const bl = bufferLayout(mm);
      expect(readBuffers(mm)[bl.offsets[bl.names.indexOf('layer4.0.bn2.num_batches_tracked')]]).toBe(2);
      const noAtt = computeGradients(mm, [makeBatch(2, 32, 9, 2, [0, 0])], { globalBatch: 2, globalAttCount: 0 }, opts);
      expect(noAtt.attLossSum).toBe(0);
      expect(noAtt.nAtt).toBe(0);
      expect(noAtt.grads.every(Number.isFinite)).toBe(true);
      // constant input => constant cams: still finite
      const flat = makeBatch(2, 32, 9, 2, [1, 1]);
      flat.images.fill(0.5);
      const c = computeGradients(mm, [flat], { globalBatch: 2, globalAttCount: 2 }, opts);
      expect(c.grads.every(Number.isFinite)).toBe(true);
      expect(Number.isFinite(c.attLossSum)).toBe(true);
      computeGradients(mm, [sliceBatch(b, 0, 2)], norm, opts);
      const count = tf.memory().numTensors;
      for (let i = 0; i < 2; i++) {
        computeGradients(mm, [sliceBatch(b, 0, 2)], norm, { attentionWeight: 1, cam: 'autodiff' });
        computeGradients(mm, [sliceBatch(b, 0, 2), sliceBatch(b, 2, 4)], norm, opts);
        evaluateBatch(mm, b.images, 4, 32);
        expect(tf.memory().numTensors).toBe(count);
      }
      disposeModel(mm);
    });

    it('attention-loss gradient passes a finite-difference check', () => {
      const mm = createModel('tiny18', 2, 13);
      applyHashWeights(mm);
      const b = makeBatch(2, 32, 21, 2, [1, 0.5]);
      b.predWeight.fill(0); // attention loss only
      const norm = { globalBatch: 2, globalAttCount: 2 };
      const opts = { attentionWeight: 2, cam: 'closed' as const };
      const layout = paramLayout(mm);
      const p0 = readParams(mm);
      const base = computeGradients(mm, [b], norm, opts);
      const lossAt = (p: Float32Array): number => { writeParams(mm, p); const r = computeGradients(mm, [b], norm, opts); return 2 * r.attLossSum / 2; };
      let checked = 0;
      for (const name of ['layer4.0.conv2.weight', 'layer3.0.conv1.weight', 'layer4.0.bn2.weight', 'layer4.0.bn1.bias', 'conv1.weight']) {
        const i = layout.names.indexOf(name);
        // the 3 entries with the largest gradient in this tensor
        const idx = Array.from({ length: layout.sizes[i] }, (_, j) => layout.offsets[i] + j)
          .sort((a, c) => Math.abs(base.grads[c]) - Math.abs(base.grads[a])).slice(0, 3);
        for (const k of idx) {
          const eps = 1e-2 * Math.max(Math.abs(p0[k]), 0.05);
          const pp = p0.slice(); pp[k] += eps;
          const pm = p0.slice(); pm[k] -= eps;
          const fd = (lossAt(pp) - lossAt(pm)) / (2 * eps);
          expect(Math.abs(fd - base.grads[k])).toBeLessThan(0.03 * Math.abs(base.grads[k]) + 1e-4);
          checked++;
        }
      }
      writeParams(mm, p0);
      expect(checked).toBe(15);
      disposeModel(mm);
    });

    it('flat params round trip', () => {
      const mm = createModel('tiny18', 2, 1);
      const p = readParams(mm);
      expect(p.length).toBe(paramLayout(mm).total);
      const q = p.map((v, i) => v + i * 1e-3);
      writeParams(mm, q);
      expect(readParams(mm)).toEqual(q);
      disposeModel(mm);
    });
  });
}
