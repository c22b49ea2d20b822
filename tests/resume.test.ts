// Kill a training run with SIGKILL mid-epoch, resume it, and get bitwise the weights and
// optimizer state of an uninterrupted run.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectBitwiseEqual, tensorsOf } from './helpers/checkpoint_bits.js';
import { runCli, startCli } from './helpers/cli.js';
import { makeDataSet } from './helpers/data_set.js';

const ARGS = ['--phase', '1', '--arch', 'tiny18', '--input-size', '64', '--workers', '1', '--backend', 'wasm', '--train-batch', '4', '--micro-batch', '2', '--n-epoch', '2', '--checkpoint-every', '1', '--seed', '5'];

describe('resume after SIGKILL', () => {
  let dir: string;
  let data: string;
  beforeAll(() => {
    ({ dir, data } = makeDataSet('gradia-resume-', { train: 24, val: 4, test: 4, size: 64, seed: 1 }));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('ends with the same weights as an uninterrupted run', async () => {
    const straight = path.join(dir, 'straight');
    const r = runCli(['train', '--data-dir', data, '--model-dir', straight, ...ARGS]);
    expect(r.code, r.stderr).toBe(0);

    const killed = path.join(dir, 'killed');
    const child = startCli(['train', '--data-dir', data, '--model-dir', killed, ...ARGS]);
    const exited = new Promise<NodeJS.Signals | null>((res) => child.once('exit', (_c, sig) => res(sig)));
    // Kill once the resumable checkpoint shows the run in the middle of epoch 1 (step 3 of 6).
    const last = path.join(killed, 'model_out_last.json');
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error('the run never reached step 3');
      try {
        const meta = JSON.parse(fs.readFileSync(last, 'utf8')) as { step: number; position: { epoch: number } };
        if (meta.step >= 3 && meta.position.epoch === 0) break;
      } catch { /* not written yet */ }
      await new Promise((res) => setTimeout(res, 20));
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const atKill = JSON.parse(fs.readFileSync(last, 'utf8')) as { step: number; position: { epoch: number; batch: number } };
    expect(atKill.position.epoch).toBe(0);
    expect(atKill.step).toBeLessThan(12);

    const resumed = runCli(['train', '--data-dir', data, '--model-dir', killed, ...ARGS, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('resuming model_out_last');

    expectBitwiseEqual(tensorsOf(path.join(straight, 'model_out_last.safetensors')), tensorsOf(path.join(killed, 'model_out_last.safetensors')));
    expectBitwiseEqual(tensorsOf(path.join(straight, 'model_out_last.optim.safetensors')), tensorsOf(path.join(killed, 'model_out_last.optim.safetensors')));
    const a = JSON.parse(fs.readFileSync(path.join(straight, 'model_out_last.json'), 'utf8'));
    const b = JSON.parse(fs.readFileSync(path.join(killed, 'model_out_last.json'), 'utf8'));
    expect(b.step).toBe(a.step);
    expect(b.history.map((h: { accuracy: number }) => h.accuracy)).toEqual(a.history.map((h: { accuracy: number }) => h.accuracy));
  });

  it('refuses --resume when there is nothing to resume', () => {
    const r = runCli(['train', '--data-dir', data, '--model-dir', path.join(dir, 'empty'), ...ARGS, '--resume']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/model_out_last\.json: nothing to resume/);
  });
});
