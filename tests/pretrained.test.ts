// --pretrained with torchvision-keyed weights of another class count (as ImageNet's 1000):
// fc is re-initialised and said so; weights of another architecture are one clear error.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../src/backend/tf.js';
import { createModel, disposeModel, saveWeights } from '../src/model/index.js';
import { readSafetensors } from '../src/model/safetensors.js';
import { runCli } from './helpers/cli.js';

describe('--pretrained', () => {
  let dir: string;
  let weights: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-pretrained-'));
    expect(runCli(['make-data', '--out', path.join(dir, 'data'), '--train', '8', '--val', '4', '--test', '4', '--size', '64']).code).toBe(0);
    await tf.setBackend('cpu');
    const m = createModel('tiny18', 1000, 7);
    weights = path.join(dir, 'tiny18-1000.safetensors');
    saveWeights(m, weights);
    disposeModel(m);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const train = (arch: string, models: string) => runCli(['train', '--data-dir', path.join(dir, 'data'), '--model-dir', path.join(dir, models), '--arch', arch,
    '--input-size', '64', '--n-epoch', '1', '--train-batch', '8', '--workers', '1', '--backend', 'wasm', '--pretrained', weights]);

  it('re-initialises fc for the data set\'s classes and keeps the other weights', () => {
    const r = train('tiny18', 'm');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('fc re-initialised for 2 classes');
    const src = readSafetensors(weights);
    const out = readSafetensors(path.join(dir, 'm', 'model_out.safetensors'));
    expect(out.get('fc.weight')!.shape).toEqual([2, src.get('fc.weight')!.shape[1]]);
    expect(src.get('fc.weight')!.shape[0]).toBe(1000);
    // After one small Adam step at lr 1e-4 the backbone is still the pretrained one.
    const a = src.get('layer4.0.conv2.weight')!.data;
    const b = out.get('layer4.0.conv2.weight')!.data;
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    expect(maxDiff).toBeLessThan(1e-3);
  });

  it('names the mis-shaped tensor when the architecture differs', () => {
    const r = train('resnet18', 'n');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/tiny18-1000\.safetensors: tensor 'conv1\.weight' has shape \[8, 3, 7, 7\]/);
  });
});
