// predict: decode, resize (PIL bilinear) to 224, ImageNet-normalise, eval-mode logits and
// raw Grad-CAM of the predicted class; JSON output.
import { describe, it, expect, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { tf } from '../src/backend/tf.js';
import { predict, predictCommand, loadImage224 } from '../src/cli/predict.js';
import { createModel, applyHashWeights, saveWeights, evaluateBatch, disposeModel } from '../src/model/index.js';
import { normaliseInto } from '../src/data/resize.js';

describe('predict', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-predict-'));
  it('matches evaluateBatch on the decoded images; 7x7 cams; JSON on stdout', async () => {
    const img = (w: number, h: number, seed: number) => Buffer.from(Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37 + seed * 101 + ((i / 3) | 0) % w) % 256));
    const a = path.join(dir, 'a.png');
    const b = path.join(dir, 'b.png');
    await sharp(img(224, 224, 1), { raw: { width: 224, height: 224, channels: 3 } }).png().toFile(a);
    await sharp(img(100, 80, 2), { raw: { width: 100, height: 80, channels: 3 } }).png().toFile(b);
    const ra = await loadImage224(a);
    expect(Buffer.from(ra)).toEqual(img(224, 224, 1)); // 224x224 used as is
    expect((await loadImage224(b)).length).toBe(224 * 224 * 3);
    await tf.setBackend('wasm');
    const m = createModel('tiny18', 3, 0);
    applyHashWeights(m);
    const w = path.join(dir, 'w.safetensors');
    saveWeights(m, w);
    const out = await predict({ arch: 'tiny18', weights: w, images: [a, b], json: true, backend: 'wasm' });
    expect(out.results).toHaveLength(2);
    const x = new Float32Array(2 * 224 * 224 * 3);
    normaliseInto(ra, 224, 224, false, x, 0);
    normaliseInto(await loadImage224(b), 224, 224, false, x, 224 * 224 * 3);
    const ev = evaluateBatch(m, x, 2, 224);
    for (let i = 0; i < 2; i++) {
      const p = out.results[i];
      expect(p.logits).toHaveLength(3);
      expect(p.pred).toBe(ev.pred[i]);
      expect(p.logits[p.pred]).toBe(Math.max(...p.logits));
      expect(p.cam).toHaveLength(7);
      expect(p.cam[0]).toHaveLength(7);
      expect(p.cam.flat()).toEqual(Array.from(ev.cams.subarray(i * 49, (i + 1) * 49)));
    }
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await predictCommand({ arch: 'tiny18', weights: w, images: [a], json: true, backend: 'wasm', numClasses: 3 });
    const outText = String(write.mock.calls[0]?.[0]);
    const errText = String(err.mock.calls[0]?.[0]);
    write.mockRestore();
    err.mockRestore();
    const json = JSON.parse(outText);
    expect(json.predictions[0].cam).toEqual(out.results[0].cam);
    expect(errText).toMatch(/^backend: wasm/);
    await expect(predict({ arch: 'tiny18', weights: w, images: [path.join(dir, 'none.png')], json: true, backend: 'wasm' })).rejects.toThrow(/none\.png: cannot decode image/);
    await expect(predict({ arch: 'resnet50', weights: w, images: [a], json: true, backend: 'wasm' })).rejects.toThrow(/w\.safetensors: tensor 'conv1\.weight' has shape \[8, 3, 7, 7\]/);
    disposeModel(m);
  });
});
