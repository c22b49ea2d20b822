// The model core's PyTorch parity on the `onednn` backend, on the fixtures of
// scripts/make_torch_fixtures.py (tests/fixtures/torch): eval logits / Grad-CAM within 1e-4,
// one GRADIA train step (losses, gradients, BN running stats) within 1e-3, as tests/model_parity.test.ts
// checks on cpu and WASM. Skipped, with the reason, when the addon is not built.
import { describe, it, expect, beforeAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '../src/backend/tf.js';
import { registerOnednnBackend, onednnInfo, kernelStats } from '../src/backend/onednn/index.js';
import {
  createModel, disposeModel, applyHashWeights, hashUniform, evaluateBatch, computeGradients, paramLayout,
  bufferLayout, readBuffers, tfToTorch,
} from '../src/model/index.js';
import type { Model, TensorSpec } from '../src/model/index.js';

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'torch');
const info = onednnInfo();
if (!info.available) console.warn(`onednn model parity skipped: ${info.reason}`);

interface Fixture {
  arch: 'tiny18' | 'tiny50' | 'resnet18' | 'resnet50'; n: number; size: number; numClasses: number; labels: number[];
  predWeight: number[]; attWeight: number[]; attentionWeight: number; inputScale: number;
  tensors: Record<string, { shape: number[]; stride: number; offset: number; length: number }>;
  data: Float32Array;
}

function loadFixture(arch: string): Fixture {
  const meta = JSON.parse(fs.readFileSync(path.join(DIR, `${arch}.json`), 'utf8'));
  const buf = fs.readFileSync(path.join(DIR, `${arch}.bin`));
  return { ...meta, data: new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)) };
}
const get = (f: Fixture, name: string) => {
  const t = f.tensors[name];
  if (!t) throw new Error(`fixture ${f.arch} has no ${name}`);
  return f.data.subarray(t.offset, t.offset + t.length);
};
function rel(ours: ArrayLike<number>, torch: ArrayLike<number>): number {
  expect(ours.length).toBe(torch.length);
  let d = 0; let m = 0;
  for (let i = 0; i < torch.length; i++) { d = Math.max(d, Math.abs(ours[i] - torch[i])); m = Math.max(m, Math.abs(torch[i])); }
  return m === 0 ? d : d / m;
}
function torchSlice(model: Model, flat: Float32Array, l: { names: string[]; offsets: number[]; sizes: number[] }, name: string, stride: number): Float32Array {
  const i = l.names.indexOf(name);
  const spec = model.specs.find((s) => s.name === name) as TensorSpec;
  const a = tfToTorch(spec, flat.slice(l.offsets[i], l.offsets[i] + l.sizes[i]));
  return stride === 1 ? a : Float32Array.from({ length: Math.ceil(a.length / stride) }, (_, k) => a[k * stride]);
}

describe.skipIf(!info.available)('model core parity with PyTorch on onednn', () => {
  beforeAll(async () => {
    expect(await registerOnednnBackend()).toEqual({ ok: true });
    await tf.setBackend('onednn');
    // onednn has native Conv2DBackpropInput/Filter: use tfjs's own conv gradient
    (await import('../src/model/conv.js')).setConvGradMode('native');
  });

  for (const arch of ['tiny18', 'tiny50', 'resnet18', 'resnet50']) {
    it(`${arch}: eval (1e-4) and one GRADIA train step (1e-3)`, () => {
      const f = loadFixture(arch);
      const g = f.size / 32;
      const images = Float32Array.from(hashUniform('input', f.n * f.size * f.size * 3), (v) => f.inputScale * v);
      const targets = Float32Array.from(hashUniform('target', f.n * g * g), (v) => (v + 1) / 2);
      const convBefore = kernelStats.native.Conv2D ?? 0;
      const model = createModel(f.arch, f.numClasses, 0);
      applyHashWeights(model);
      try {
        const ev = evaluateBatch(model, images, f.n, f.size);
        expect(rel(ev.logits, get(f, 'eval.logits')), 'logits').toBeLessThan(1e-4);
        expect(Array.from(ev.pred)).toEqual(Array.from(get(f, 'eval.pred')));
        expect(rel(ev.cams, get(f, 'eval.cam')), 'cam').toBeLessThan(1e-4);
        expect(kernelStats.native.Conv2D ?? 0).toBeGreaterThan(convBefore);

        const nAtt = f.attWeight.filter((a) => a > 0).length;
        const r = computeGradients(model, [{
          n: f.n, size: f.size, images, labels: Int32Array.from(f.labels), predWeight: Float32Array.from(f.predWeight),
          attWeight: Float32Array.from(f.attWeight), targets,
        }], { globalBatch: f.n, globalAttCount: nAtt }, { attentionWeight: f.attentionWeight, cam: 'closed' });
        const losses = get(f, 'train.losses');
        expect(Math.abs(r.taskLossSum / f.n - losses[0]) / losses[0]).toBeLessThan(1e-3);
        expect(Math.abs(f.attentionWeight * r.attLossSum / nAtt - losses[1]) / losses[1]).toBeLessThan(1e-3);
        const pl = paramLayout(model);
        const bl = bufferLayout(model);
        const buf = readBuffers(model);
        let checked = 0;
        for (const [key, t] of Object.entries(f.tensors)) {
          if (key.startsWith('grad.')) { expect(rel(torchSlice(model, r.grads, pl, key.slice(5), t.stride), get(f, key)), key).toBeLessThan(1e-3); checked++; }
          if (key.startsWith('buffer.')) expect(rel(torchSlice(model, buf, bl, key.slice(7), t.stride), get(f, key)), key).toBeLessThan(1e-3);
        }
        expect(checked).toBeGreaterThanOrEqual(10);
      } finally {
        disposeModel(model);
      }
    });
  }
});
