import { it } from 'vitest';
import fs from 'node:fs';
import { tf } from '../src/backend/tf.js';
import { createModel, applyHashWeights, hashUniform, computeGradients, paramLayout, tfToTorch } from '../src/model/index.js';
it('dbg', async () => {
  await tf.setBackend('cpu');
  const meta = JSON.parse(fs.readFileSync('tests/fixtures/torch/resnet18.json', 'utf8'));
  const buf = fs.readFileSync('tests/fixtures/torch/resnet18.bin');
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const m = createModel('resnet18', 5, 0); applyHashWeights(m);
  const n = 3, size = 224, g = 7;
  const images = Float32Array.from(hashUniform('input', n * size * size * 3), (v) => 1.5 * v);
  const targets = Float32Array.from(hashUniform('target', n * g * g), (v) => (v + 1) / 2);
  const r = computeGradients(m, [{ n, size, images, labels: Int32Array.from([1, 2, 0]), predWeight: Float32Array.from([1, 0.4, 0.8]), attWeight: Float32Array.from([1, 1.6, 0]), targets }], { globalBatch: 3, globalAttCount: 2 }, { attentionWeight: 1.5, cam: 'closed' });
  const pl = paramLayout(m);
  for (const [key, t] of Object.entries(meta.tensors) as [string, { stride: number; offset: number; length: number }][]) {
    if (!key.startsWith('grad.')) continue;
    const name = key.slice(5); const i = pl.names.indexOf(name); const s = m.specs.find((q) => q.name === name)!;
    const ours = tfToTorch(s, r.grads.slice(pl.offsets[i], pl.offsets[i] + pl.sizes[i])).filter((_, j) => j % t.stride === 0);
    const ref = data.subarray(t.offset, t.offset + t.length);
    let d = 0, mm = 0; for (let j = 0; j < ref.length; j++) { d = Math.max(d, Math.abs(ours[j] - ref[j])); mm = Math.max(mm, Math.abs(ref[j])); }
    console.log('CPU', key, d / mm);
  }
}, 600000);
