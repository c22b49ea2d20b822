// predict checked against PyTorch: a fixed PNG (tests/fixtures/torch/predict, made by
// scripts/make_predict_fixture.py) through `gradia-dist predict --json`, logits and raw
// Grad-CAM of the predicted class compared with torchvision's within 1e-4 — at 224 px for
// a plain weights file, and at a checkpoint's own input size (96 px) read from its sidecar.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/select.js';
import { predict } from '../src/cli/predict.js';
import { saveCheckpoint } from '../src/coordinator/checkpoint.js';
import { applyHashWeights, createModel, disposeModel, readBuffers, readParams, saveWeights } from '../src/model/index.js';
import { repoRoot } from '../src/util/paths.js';
import { lastJson, runCli } from './helpers/cli.js';

const FIXTURE = path.join(repoRoot, 'tests', 'fixtures', 'torch', 'predict');
interface TorchPrediction { logits: number[]; pred: number; cam: number[][] }
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'expected.json'), 'utf8')) as {
  arch: string; numClasses: number; image: string; sizes: Record<string, TorchPrediction>;
};
const image = path.join(FIXTURE, expected.image);

interface PredictJson { arch: string; inputSize: number; predictions: ({ image: string } & TorchPrediction)[] }

function expectClose(got: number[], want: number[], what: string): void {
  expect(got.length, what).toBe(want.length);
  const worst = Math.max(...got.map((v, i) => Math.abs(v - want[i]!)));
  expect(worst, `${what}: largest difference from torch`).toBeLessThanOrEqual(1e-4);
}

function expectTorch(out: PredictJson, size: number): void {
  const want = expected.sizes[String(size)]!;
  expect(out.inputSize).toBe(size);
  expect(out.predictions).toHaveLength(1);
  const p = out.predictions[0]!;
  expect(p.image).toBe(image);
  expect(p.pred).toBe(want.pred);
  expectClose(p.logits, want.logits, 'logits');
  expect(p.cam).toHaveLength(size / 32);
  for (const row of p.cam) expect(row).toHaveLength(size / 32);
  expectClose(p.cam.flat(), want.cam.flat(), 'raw Grad-CAM');
}

describe('predict against PyTorch', () => {
  let dir: string;
  let plain: string;
  let checkpoint: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-predict-'));
    // The fixture's weights: every tensor the hash of its name (src/model/hashinit.ts).
    await initBackend('cpu');
    const model = createModel('tiny18', expected.numClasses, 0);
    applyHashWeights(model);
    plain = path.join(dir, 'plain.safetensors');
    saveWeights(model, plain);
    const params = readParams(model);
    saveCheckpoint(dir, {
      name: 'at96', arch: 'tiny18', classes: ['a', 'b', 'c'], numClasses: 3, inputSize: 96, phase: 1, epoch: 1, step: 1,
      position: { epoch: 1, batch: 0 }, metrics: {}, history: [], best: null, parent: null, config: {}, dataFingerprint: 'f',
    }, { params, buffers: readBuffers(model), adam: { m: new Float32Array(params.length), v: new Float32Array(params.length), t: 0 } });
    checkpoint = path.join(dir, 'at96.safetensors');
    disposeModel(model);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('plain weights (no sidecar): 224 px, logits and raw CAM equal torch\'s', () => {
    const r = runCli(['predict', '--arch', 'tiny18', '--weights', plain, '--backend', 'wasm', '--json', image]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^backend: wasm/);
    expectTorch(lastJson(r) as unknown as PredictJson, 224);
  });

  it('a checkpoint trained at 96 px is predicted at 96 px with its own arch and classes (no --arch needed; a contradicting --arch is refused)', () => {
    const r = runCli(['predict', '--weights', checkpoint, '--backend', 'wasm', '--json', image]);
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson(r) as unknown as PredictJson;
    expect(out.arch).toBe('tiny18');
    expectTorch(out, 96);
    const wrong = runCli(['predict', '--arch', 'resnet18', '--weights', checkpoint, '--backend', 'wasm', '--json', image]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.trim()).toMatch(/\.safetensors: is a tiny18 checkpoint \(its sidecar says so\), but --arch is resnet18$/);
  });

  it('names an unreadable image, and weights of another architecture, in one line', async () => {
    await expect(predict({ arch: 'tiny18', weights: plain, images: [path.join(dir, 'none.png')], json: true, backend: 'wasm' }))
      .rejects.toThrow(`${path.join(dir, 'none.png')}: unreadable or corrupt image`);
    await expect(predict({ arch: 'resnet50', weights: plain, images: [image], json: true, backend: 'wasm' }))
      .rejects.toThrow(/plain\.safetensors: tensor 'conv1\.weight' has shape \[8, 3, 7, 7\]/);
  });
});
