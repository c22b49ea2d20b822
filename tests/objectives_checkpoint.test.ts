// RES-L's imputation network in checkpoints: saved under RES's module names after the
// torchvision keys, read back bit for bit, skipped by loadWeights (so evaluate/predict and
// a later phase load a RES-L checkpoint like any other), and the new flags guarded by --resume.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tf } from '../src/backend/tf.js';
import { loadCheckpoint, saveCheckpoint, stateSpecs, type CheckpointMeta } from '../src/coordinator/checkpoint.js';
import { readSafetensors } from '../src/model/safetensors.js';
import { createModel, disposeModel, loadWeights, readParams, tensorSpecs } from '../src/model/index.js';
import { imputationSpecs } from '../src/model/objectives/index.js';
import { recordedSettings, resumeConflicts, defaultsOf, TRAIN_OPTIONS } from '../src/config/run_spec.js';
import type { ReplicaState } from '../src/worker/types.js';

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const meta = (name: string, config: Record<string, unknown>, phase: 1 | 2 = 2): Omit<CheckpointMeta, 'id' | 'format' | 'createdAt' | 'hasOptimizer'> => ({
  name, arch: 'tiny18', classes: ['a', 'b'], numClasses: 2, inputSize: 64, phase, epoch: 1, step: 3,
  position: { epoch: 0, batch: 3 }, metrics: {}, history: [], best: null, parent: null, config, dataFingerprint: 'f',
});

function stateFor(kind: 's1' | 'd2' | null, seed: number): ReplicaState {
  const specs = tensorSpecs('tiny18', 2);
  const P = specs.filter((s) => !s.isBuffer).reduce((a, s) => a + size(s.shape), 0) + (kind ? imputationSpecs(kind).reduce((a, s) => a + size(s.shape), 0) : 0);
  const B = specs.filter((s) => s.isBuffer).reduce((a, s) => a + size(s.shape), 0);
  let x = seed >>> 0;
  const r = () => { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return x / 4294967296 - 0.5; };
  const buffers = Float32Array.from({ length: B }, () => Math.abs(r()));
  specs.filter((s) => s.isBuffer).reduce((o, s) => { if (s.kind === 'num_batches_tracked') buffers[o] = 4; return o + size(s.shape); }, 0);
  return { params: Float32Array.from({ length: P }, r), buffers, adam: { m: Float32Array.from({ length: P }, r), v: Float32Array.from({ length: P }, () => Math.abs(r())), t: 7 } };
}

beforeAll(async () => { await tf.setBackend('cpu'); });

describe('RES-L checkpoints', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-objckpt-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the imputation network is saved under imp.* / imp_conv*.* (torch layouts) and read back bit for bit', () => {
    for (const kind of ['s1', 'd2'] as const) {
      const s = stateFor(kind, kind === 's1' ? 1 : 2);
      const config = { objective: 'res-l', imputation: kind };
      saveCheckpoint(dir, meta(kind, config), s);
      const st = readSafetensors(path.join(dir, `${kind}.safetensors`));
      const imp = [...st.keys()].filter((k) => k.startsWith('imp'));
      expect(imp).toEqual(imputationSpecs(kind).map((x) => x.name));
      expect(st.get(kind === 's1' ? 'imp.weight' : 'imp_conv1.weight')!.shape).toEqual(kind === 's1' ? [1, 1, 64, 64] : [4, 4, 7, 7]);
      expect(stateSpecs(meta(kind, config)).length).toBe(tensorSpecs('tiny18', 2).length + imp.length);
      const back = loadCheckpoint(dir, kind).state;
      expect(Buffer.from(back.params.buffer).equals(Buffer.from(s.params.buffer))).toBe(true);
      expect(Buffer.from(back.adam!.m.buffer).equals(Buffer.from(s.adam.m.buffer))).toBe(true);
      // evaluate / predict / a new phase load it as a plain classifier: the imp.* tensors are skipped
      const model = createModel('tiny18', 2, 0);
      try {
        loadWeights(model, path.join(dir, `${kind}.safetensors`));
        const resnetPart = s.params.subarray(0, readParams(model).length);
        expect(Buffer.from(readParams(model).buffer).equals(Buffer.from(Float32Array.from(resnetPart).buffer))).toBe(true);
      } finally {
        disposeModel(model);
      }
    }
  });

  it('a state without the network a RES-L checkpoint needs (or with one it does not) is refused before any file is written', () => {
    expect(() => saveCheckpoint(dir, meta('a', { objective: 'res-l', imputation: 'd1' }), stateFor(null, 3))).toThrow(/a: not written: the state holds \d+ parameters .* need \d+/);
    expect(() => saveCheckpoint(dir, meta('b', { objective: 'res-g' }), stateFor('s1', 3))).toThrow(/b: not written/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('phase 1 and the other objectives keep the torchvision state_dict alone', () => {
    for (const [config, phase] of [[{ objective: 'res-l', imputation: 's1' }, 1], [{ objective: 'res-g' }, 2], [{}, 2]] as const) {
      expect(stateSpecs(meta('x', config, phase)).map((s) => s.name)).toEqual(tensorSpecs('tiny18', 2).map((s) => s.name));
    }
  });

  it('--resume refuses a change of --objective, --imputation, --eta or --imputation-reg', () => {
    const cfg = { ...defaultsOf(TRAIN_OPTIONS), objective: 'res-l' as const, imputation: 'd1' as const, eta: 0.1, imputationReg: 0.5 };
    const recorded = recordedSettings(cfg, 2);
    expect(resumeConflicts(recorded, recordedSettings(cfg, 2))).toEqual([]);
    expect(resumeConflicts(recorded, recordedSettings({ ...cfg, objective: 'res-g' }, 2))).toEqual(['--objective "res-l", this run has "res-g"']);
    expect(resumeConflicts(recorded, recordedSettings({ ...cfg, imputation: 's2' }, 2))).toEqual(['--imputation "d1", this run has "s2"']);
    expect(resumeConflicts(recorded, recordedSettings({ ...cfg, eta: 0 }, 2))).toEqual(['--eta 0.1, this run has 0']);
    expect(resumeConflicts(recorded, recordedSettings({ ...cfg, imputationReg: 0 }, 2))).toEqual(['--imputation-reg 0.5, this run has 0']);
  });
});
