import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkpointExists, loadCheckpoint, saveCheckpoint, type CheckpointMeta } from '../src/coordinator/checkpoint.js';
import { tensorSpecs } from '../src/model/resnet.js';
import type { ReplicaState } from '../src/worker/types.js';

function randomState(seed: number): ReplicaState {
  const specs = tensorSpecs('tiny18', 2);
  const size = (s: { shape: number[] }) => s.shape.reduce((a, b) => a * b, 1);
  const nP = specs.filter((s) => !s.isBuffer).reduce((a, s) => a + size(s), 0);
  const nB = specs.filter((s) => s.isBuffer).reduce((a, s) => a + size(s), 0);
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  const params = Float32Array.from({ length: nP }, rnd);
  const buffers = Float32Array.from({ length: nB }, () => Math.abs(rnd()));
  // num_batches_tracked buffers are integers on disk (I64).
  let o = 0;
  for (const s of specs.filter((t) => t.isBuffer)) {
    if (s.kind === 'num_batches_tracked') buffers[o] = 7;
    o += size(s);
  }
  return { params, buffers, adam: { m: Float32Array.from({ length: nP }, rnd), v: Float32Array.from({ length: nP }, () => Math.abs(rnd())), t: 7 } };
}

const meta = (name: string): Omit<CheckpointMeta, 'id' | 'format' | 'createdAt' | 'hasOptimizer'> => ({
  name, arch: 'tiny18', classes: ['a', 'b'], numClasses: 2, inputSize: 64, phase: 1, epoch: 1, step: 3,
  position: { epoch: 0, batch: 3 }, metrics: {}, history: [], best: null, parent: null, config: {}, dataFingerprint: 'f',
});

describe('checkpoints', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-ckpt-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('round-trips weights, BN buffers and Adam state exactly', () => {
    const s = randomState(1);
    saveCheckpoint(dir, meta('m'), s);
    const { meta: m, state } = loadCheckpoint(dir, 'm');
    expect(m.step).toBe(3);
    expect(Buffer.from(state.params.buffer).equals(Buffer.from(s.params.buffer))).toBe(true);
    expect(Buffer.from(state.buffers.buffer).equals(Buffer.from(s.buffers.buffer))).toBe(true);
    expect(state.adam!.t).toBe(7);
    expect(Buffer.from(state.adam!.v.buffer).equals(Buffer.from(s.adam.v.buffer))).toBe(true);
    // No temp or journal files are left behind.
    expect(fs.readdirSync(dir).sort()).toEqual(['m.json', 'm.optim.safetensors', 'm.safetensors']);
  });

  it('rolls an interrupted commit forward, never mixing two checkpoints', () => {
    saveCheckpoint(dir, meta('m'), randomState(1));
    const second = randomState(2);
    saveCheckpoint(dir, meta('n'), second);
    // Simulate a crash after the new weights were renamed into place but before the JSON:
    // the journal (*.next) of checkpoint n stands in for m's next version.
    fs.renameSync(path.join(dir, 'n.safetensors'), path.join(dir, 'm.safetensors'));
    fs.renameSync(path.join(dir, 'n.optim.safetensors'), path.join(dir, 'm.optim.safetensors.next'));
    const nMeta = JSON.parse(fs.readFileSync(path.join(dir, 'n.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'm.json.next'), JSON.stringify({ ...nMeta, name: 'm' }));
    expect(checkpointExists(dir, 'm')).toBe(true);
    const { state } = loadCheckpoint(dir, 'm');
    expect(Buffer.from(state.params.buffer).equals(Buffer.from(second.params.buffer))).toBe(true);
  });

  it('rejects weights that belong to another checkpoint, naming the file', () => {
    saveCheckpoint(dir, meta('m'), randomState(1));
    saveCheckpoint(dir, meta('n'), randomState(2));
    fs.copyFileSync(path.join(dir, 'n.safetensors'), path.join(dir, 'm.safetensors'));
    expect(() => loadCheckpoint(dir, 'm')).toThrow(/m\.safetensors: belongs to checkpoint/);
  });

  it('names the missing checkpoint file', () => {
    expect(() => loadCheckpoint(dir, 'nope')).toThrow(/nope\.json: no checkpoint named 'nope'/);
  });
});
