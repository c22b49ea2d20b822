// Adam, safetensors I/O and backend selection.
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tf } from '../src/backend/tf.js';
import { initBackend, withWasmMemoryHint } from '../src/backend/select.js';
import { GradiaInputError } from '../src/util/errors.js';
import {
  adamStep, createAdamState, createModel, disposeModel, readParams, readBuffers, saveWeights, loadWeights,
  readSafetensors, writeSafetensors, stateDictTorch, applyHashWeights,
} from '../src/model/index.js';

describe('Adam', () => {
  it('matches the torch.optim.Adam formula (float64 reference) over 3 steps and is deterministic', () => {
    const n = 50;
    const p = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.5);
    const p2 = p.slice();
    const ref = Array.from(p);
    const m = new Array(n).fill(0);
    const v = new Array(n).fill(0);
    const st = createAdamState(n);
    const st2 = createAdamState(n);
    for (let t = 1; t <= 3; t++) {
      const g = Float32Array.from({ length: n }, (_, i) => Math.cos(i * t) * (i % 7 === 0 ? 1e-6 : 0.1));
      adamStep(p, g, st, { lr: 1e-3 });
      adamStep(p2, g, st2, { lr: 1e-3 });
      for (let i = 0; i < n; i++) {
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
        const denom = Math.sqrt(v[i]) / Math.sqrt(1 - 0.999 ** t) + 1e-8;
        ref[i] -= (1e-3 / (1 - 0.9 ** t)) * (m[i] / denom);
      }
    }
    expect(st.t).toBe(3);
    for (let i = 0; i < n; i++) expect(Math.abs(p[i] - ref[i])).toBeLessThan(1e-6);
    expect(p2).toEqual(p);
    // first step moves every parameter by ~lr (sign of the gradient)
    const q = new Float32Array([1, 1]);
    adamStep(q, new Float32Array([0.5, -2]), createAdamState(2));
    expect(q[0]).toBeCloseTo(1 - 1e-4, 7);
    expect(q[1]).toBeCloseTo(1 + 1e-4, 7);
  });
});

describe('safetensors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-st-'));
  it('save -> load round trip in torch layouts, I64 num_batches_tracked, no temp files left', async () => {
    await tf.setBackend('cpu');
    const a = createModel('tiny50', 3, 1);
    applyHashWeights(a);
    const file = path.join(dir, 'a.safetensors');
    saveWeights(a, file);
    expect(fs.readdirSync(dir)).toEqual(['a.safetensors']);
    const st = readSafetensors(file);
    expect(st.get('conv1.weight')!.shape).toEqual([8, 3, 7, 7]);
    expect(st.get('fc.weight')!.shape).toEqual([3, 256]);
    expect(st.get('bn1.num_batches_tracked')!.dtype).toBe('I64');
    expect(st.get('bn1.num_batches_tracked')!.data[0]).toBe(5);
    // torch layout: conv1.weight[o=1, i=2, y=3, x=4] == tfjs [3, 4, 2, 1]
    const tfW = a.params.get('conv1.weight')!.arraySync() as number[][][][];
    expect(st.get('conv1.weight')!.data[((1 * 3 + 2) * 7 + 3) * 7 + 4]).toBe(Math.fround(tfW[3][4][2][1]));
    const b = createModel('tiny50', 3, 2);
    expect(readParams(b)).not.toEqual(readParams(a));
    loadWeights(b, file);
    expect(readParams(b)).toEqual(readParams(a));
    expect(readBuffers(b)).toEqual(readBuffers(a));
    disposeModel(b);
    disposeModel(a);
  });

  it('errors name the key: missing, unknown, mis-shaped; fc re-initialised on request', () => {
    const a = createModel('tiny18', 2, 1);
    const sd = [...stateDictTorch(a)].map(([name, t]) => ({ name, shape: t.shape, dtype: 'F32' as const, data: t.data }));
    const f1 = path.join(dir, 'missing.safetensors');
    writeSafetensors(f1, sd.filter((t) => t.name !== 'layer2.0.bn1.bias'));
    expect(() => loadWeights(a, f1)).toThrow(/missing tensor 'layer2\.0\.bn1\.bias'/);
    expect(() => loadWeights(a, f1)).toThrow(GradiaInputError);
    const f2 = path.join(dir, 'unknown.safetensors');
    writeSafetensors(f2, [...sd, { name: 'layer9.0.conv1.weight', shape: [1], dtype: 'F32', data: new Float32Array(1) }]);
    expect(() => loadWeights(a, f2)).toThrow(/unknown tensor 'layer9\.0\.conv1\.weight'/);
    const f3 = path.join(dir, 'shape.safetensors');
    writeSafetensors(f3, sd.map((t) => (t.name === 'layer1.0.conv2.weight' ? { ...t, shape: [8, 8, 1, 9] } : t)));
    expect(() => loadWeights(a, f3)).toThrow(/tensor 'layer1\.0\.conv2\.weight' has shape \[8, 8, 1, 9\].*\[8, 8, 3, 3\]/);
    // a 5-class checkpoint into a 2-class model
    const five = createModel('tiny18', 5, 3);
    const f4 = path.join(dir, 'five.safetensors');
    saveWeights(five, f4);
    expect(() => loadWeights(a, f4)).toThrow(/fc\.weight/);
    expect(loadWeights(a, f4, { reinitFc: true, seed: 4 }).fcReinitialised).toBe(true);
    expect(a.params.get('layer1.0.conv1.weight')!.dataSync()).toEqual(five.params.get('layer1.0.conv1.weight')!.dataSync());
    // old checkpoints without num_batches_tracked load (set to 0)
    const f5 = path.join(dir, 'old.safetensors');
    writeSafetensors(f5, sd.filter((t) => !t.name.endsWith('num_batches_tracked')));
    loadWeights(a, f5);
    expect(readBuffers(a)[4]).toBe(0);
    // garbage
    const f6 = path.join(dir, 'junk.safetensors');
    fs.writeFileSync(f6, 'hello world, not safetensors');
    expect(() => loadWeights(a, f6)).toThrow(GradiaInputError);
    expect(() => loadWeights(a, path.join(dir, 'nope.safetensors'))).toThrow(/nope\.safetensors: cannot read weights/);
    disposeModel(a);
    disposeModel(five);
  });
});

describe('backend selection', () => {
  it('cpu and wasm on request; auto picks wasm here; missing ones fail with one line', async () => {
    expect(await initBackend('cpu')).toMatchObject({ name: 'cpu' });
    expect(tf.getBackend()).toBe('cpu');
    expect(await initBackend('wasm')).toMatchObject({ name: 'wasm' });
    expect(tf.getBackend()).toBe('wasm');
    const auto = await initBackend('auto');
    expect(['tensorflow', 'onednn', 'wasm']).toContain(auto.name);
    expect(auto.reason).toMatch(/auto/);
    if (auto.name === 'wasm') expect(auto.reason).toMatch(/tfjs-node/);
    let hasNode = true;
    try { await import('@tensorflow/tfjs-node' as string); } catch { hasNode = false; }
    if (!hasNode) {
      await expect(initBackend('tensorflow')).rejects.toThrow(GradiaInputError);
      await expect(initBackend('tensorflow')).rejects.toThrow(/not installed/);
    }
    await expect(initBackend('nonsense' as 'cpu')).rejects.toThrow(/--backend must be one of/);
  });

  it('the WASM heap abort becomes a clear --micro-batch message', () => {
    expect(() => withWasmMemoryHint(() => { throw new RangeError('memory access out of bounds'); })).toThrow(/lower --micro-batch/);
    expect(() => withWasmMemoryHint(() => { throw new Error('something else'); })).toThrow(/^something else$/);
  });
});
