// The fused ops model code calls (src/backend/fused/) pick the active backend's Gradia kernel when
// it has one and the same math in tfjs ops / JS otherwise; model code never asks which backend runs.
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { tf } from '../src/backend/tf.js';
import { registerVectorKernel } from '../src/backend/vector_kernels.js';
import { GRADIA_ADAM } from '../src/backend/kernel_names.js';
import { addRelu, adamUpdateJs, type AdamKernelArgs } from '../src/backend/fused/index.js';
import { adamStep, createAdamState } from '../src/model/adam.js';
import { registerOnednnBackend, onednnInfo, kernelStats } from '../src/backend/onednn/index.js';
import { repoRoot } from '../src/util/paths.js';

const onednn = onednnInfo().available;

describe('model code is backend-neutral', () => {
  it('no file under src/model asks tf.getBackend() or imports the onednn backend', () => {
    const dir = path.join(repoRoot, 'src', 'model');
    const offenders: string[] = [];
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const src = fs.readFileSync(path.join(dir, f), 'utf8');
      if (/getBackend\s*\(/.test(src) || /backend\/onednn\//.test(src)) offenders.push(f);
    }
    expect(offenders).toEqual([]);
  });
});

describe('vector kernels', () => {
  it("adamStep runs the active backend's GradiaAdam kernel, with torch's float32 scalars", async () => {
    await tf.setBackend('cpu');
    const calls: AdamKernelArgs[] = [];
    registerVectorKernel(GRADIA_ADAM, 'cpu', (a: AdamKernelArgs) => { calls.push(a); adamUpdateJs(a); });
    try {
      const p = Float32Array.from([1, -2]);
      const s = createAdamState(2);
      adamStep(p, Float32Array.from([0.5, -0.25]), s, { lr: 0.1 });
      expect(calls).toHaveLength(1);
      expect(calls[0].params).toBe(p);
      // t = 1: step size lr / (1 - 0.9), bias-corrected sqrt(1 - 0.999), both rounded to float32
      expect(calls[0].s.stepSize).toBe(Math.fround(0.1 / (1 - 0.9)));
      expect(calls[0].s.bc2Sqrt).toBe(Math.fround(Math.sqrt(1 - 0.999)));
      // first Adam step moves each weight by about lr against its gradient's sign
      expect(p[0]).toBeCloseTo(0.9, 5);
      expect(p[1]).toBeCloseTo(-1.9, 5);
    } finally {
      registerVectorKernel(GRADIA_ADAM, 'cpu', adamUpdateJs);
    }
  });
});

/** Values with -0 read as 0 (a masked gradient may carry either sign of zero). */
const vals = (t: tf.Tensor) => Array.from(t.dataSync()).map((v) => (v === 0 ? 0 : v));

describe('addRelu', () => {
  const a = [1.5, -2, 0.25, -0.5, 3, -1];
  const b = [-0.5, 1, -1, 0.5, -4, 2];
  const run = () => {
    const ta = tf.tensor2d(a, [2, 3]);
    const tb = tf.tensor2d(b, [2, 3]);
    const dy = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const y = addRelu(ta, tb);
    const [ga, gb] = tf.grads((x: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(addRelu(x as tf.Tensor2D, z as tf.Tensor2D), dy)))([ta, tb]);
    return { y: vals(y), ga: vals(ga), gb: vals(gb) };
  };
  // relu(a + b) = [1, 0, 0, 0, 0, 1]; the gradient passes dy where a + b > 0 (positions 0 and 5)
  const expected = { y: [1, 0, 0, 0, 0, 1], ga: [1, 0, 0, 0, 0, 6], gb: [1, 0, 0, 0, 0, 6] };

  it('on cpu (no Gradia kernel): relu(add) and its gradient', async () => {
    await tf.setBackend('cpu');
    expect(run()).toEqual(expected);
  });

  it.skipIf(!onednn)('on onednn: the GradiaAddRelu kernel and its registered gradient, same values', async () => {
    const r = await registerOnednnBackend();
    expect(r.ok).toBe(true);
    await tf.setBackend('onednn');
    const before = [kernelStats.native.GradiaAddRelu ?? 0, kernelStats.native.GradiaReluGrad ?? 0];
    expect(run()).toEqual(expected);
    expect(kernelStats.native.GradiaAddRelu ?? 0).toBeGreaterThan(before[0]);
    expect(kernelStats.native.GradiaReluGrad ?? 0).toBeGreaterThan(before[1]);
  });
});
