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

  it('round-trips every parameter, BN buffer and Adam tensor (m, v, t) bit for bit', () => {
    const s = randomState(1);
    // Values a lossy path would change: -0, subnormals, the largest finite float32, and
    // m and v distinct from each other and from the weights.
    const special = [-0, 1e-45, -1.4e-44, 3.4028234663852886e38, 1.1754942e-38];
    for (const a of [s.params, s.adam.m, s.adam.v]) special.forEach((v, i) => { a[a.length - 1 - 3 * i] = a === s.adam.v ? Math.abs(v) : v; });
    s.adam.t = 123457;
    saveCheckpoint(dir, meta('m'), s);
    const { meta: m, state } = loadCheckpoint(dir, 'm');
    expect(m.step).toBe(3);
    expect(m.hasOptimizer).toBe(true);
    const bits = (a: Float32Array, from = 0, n = a.length): Buffer => Buffer.from(a.buffer, a.byteOffset + 4 * from, 4 * n);
    // Tensor by tensor, so that a failure names the tensor.
    let p = 0;
    let b = 0;
    for (const spec of tensorSpecs('tiny18', 2)) {
      const n = spec.shape.reduce((x, y) => x * y, 1);
      if (spec.isBuffer) {
        expect(bits(state.buffers, b, n).equals(bits(s.buffers, b, n)), spec.name).toBe(true);
        b += n;
      } else {
        expect(bits(state.params, p, n).equals(bits(s.params, p, n)), spec.name).toBe(true);
        expect(bits(state.adam!.m, p, n).equals(bits(s.adam.m, p, n)), `adam.m of ${spec.name}`).toBe(true);
        expect(bits(state.adam!.v, p, n).equals(bits(s.adam.v, p, n)), `adam.v of ${spec.name}`).toBe(true);
        p += n;
      }
    }
    expect([p, b]).toEqual([s.params.length, s.buffers.length]);
    expect([state.params.length, state.buffers.length, state.adam!.m.length, state.adam!.v.length]).toEqual([p, b, p, p]);
    expect(state.adam!.t).toBe(123457);
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
