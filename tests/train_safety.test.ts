// A run that goes wrong stops with one line and keeps what it had: a non-finite loss,
// gradient or weight is never applied nor saved; a resume refuses changed settings and says
// when nothing is left; flags that cannot mean what they say are refused before any work;
// output piped to a slow reader arrives whole.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type ReplicaConfig, type ShardSample } from '../src/coordinator/cluster.js';
import { planEpoch } from '../src/coordinator/sharder.js';
import { createModel, disposeModel, readSafetensors, saveWeights } from '../src/model/index.js';
import { initBackend } from '../src/backend/select.js';
import { CLI, runCli } from './helpers/cli.js';
import { makeDataSet } from './helpers/data_set.js';

const TINY = ['--arch', 'tiny18', '--input-size', '64', '--backend', 'wasm', '--workers', '1', '--train-batch', '4', '--micro-batch', '2', '-j', '1'];

let dir: string;
let data: string;

beforeAll(() => {
  ({ dir, data } = makeDataSet('gradia-safety-', { train: 12, val: 4, test: 64, size: 64, seed: 4 }));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function allFinite(file: string): boolean {
  for (const t of readSafetensors(file).values()) for (const x of t.data) if (!Number.isFinite(x)) return false;
  return true;
}

/** The one line gradia-dist prints for a failed command (progress lines aside). */
function errorLine(stderr: string): string {
  const lines = stderr.trim().split('\n').filter((l) => l.startsWith('gradia-dist: '));
  expect(lines, stderr).toHaveLength(1);
  return lines[0]!;
}

describe('non-finite values', () => {
  it('--lr 1e20: the NaN gradient of step 2 stops the run unapplied; the checkpoint of step 1 stays, finite', () => {
    const models = path.join(dir, 'nan-grad');
    const r = runCli(['train', '--data-dir', data, '--model-dir', models, ...TINY, '--n-epoch', '2', '--checkpoint-every', '1', '--lr', '1e20']);
    expect(r.code, r.stderr).toBe(1);
    const line = errorLine(r.stderr);
    // Step 1 moves the weights by about lr (finite); step 2's backward pass overflows.
    expect(line).toMatch(/step (\d+) \(epoch 1, batch \d+\): the (task loss|attention loss) is (NaN|Infinity)|the gradient of \S+ holds (NaN|Infinity|-Infinity)/);
    expect(line).toContain('--lr 1e+20');
    const failedStep = Number(/step (\d+) /.exec(line)![1]);
    expect(failedStep).toBeGreaterThan(1);
    const last = JSON.parse(fs.readFileSync(path.join(models, 'model_out_last.json'), 'utf8')) as { step: number };
    // The failing step was not saved: the resumable checkpoint is the step before it, and finite.
    expect(last.step).toBe(failedStep - 1);
    expect(line).toContain(`model_out_last (step ${last.step}) is intact`);
    for (const f of fs.readdirSync(models).filter((n) => n.endsWith('.safetensors'))) expect(allFinite(path.join(models, f)), f).toBe(true);
    // No epoch finished, so no "best" model was written.
    expect(fs.existsSync(path.join(models, 'model_out.safetensors'))).toBe(false);
  });

  it('--lr 1e38: the first Adam step overflows the weights; the run stops there and saves nothing', () => {
    const models = path.join(dir, 'nan-adam');
    const r = runCli(['train', '--data-dir', data, '--model-dir', models, ...TINY, '--n-epoch', '2', '--checkpoint-every', '1', '--lr', '1e38']);
    expect(r.code, r.stderr).toBe(1);
    const line = errorLine(r.stderr);
    expect(line).toMatch(/step 1 \(epoch 1, batch 1\): the Adam step made \S+ (NaN|Infinity|-Infinity);.*no checkpoint of this run was written.*--lr 1e\+38/);
    const saved = fs.existsSync(models) ? fs.readdirSync(models).filter((n) => n.endsWith('.safetensors')) : [];
    expect(saved).toEqual([]);
  });

  it('a NaN weight stops the step on every replica before the weights, BN buffers or Adam state change', async () => {
    const S = 64;
    const samples: ShardSample[] = [];
    for (let i = 0; i < 4; i++) {
      const p = path.join(dir, `nan${i}.png`);
      await sharp(Buffer.alloc(S * S * 3, 40 + 50 * i), { raw: { width: S, height: S, channels: 3 } }).png().toFile(p);
      samples.push({ index: i, path: p, fileName: `nan${i}.png`, label: i % 2, target: null, predWeight: 1, attWeight: 0, flip: false });
    }
    const replica: ReplicaConfig = { backend: 'wasm', arch: 'tiny18', numClasses: 2, inputSize: S, seed: 3, lr: 1e-3, attentionWeight: 0, camMode: 'closed', microBatch: 2, pipelineThreads: 1, originalFlipBug: false };
    const cluster = await startCluster({ placement: { kind: 'threads', n: 2 }, replica, timeoutMs: 120_000 });
    try {
      const state = await cluster.getState();
      state.params[7] = Number.NaN; // inside conv1.weight, the first tensor
      await cluster.setState(state);
      const before = await cluster.getState();
      const plan = planEpoch({ n: 4, seed: 0, epoch: 0, trainBatch: 4, world: 2, hasAttention: () => false });
      const r = await cluster.trainStep({ step: 0, epoch: 0, shards: plan.steps[0]!.map((idx) => idx.map((i) => samples[i]!)), norm: plan.norms[0]! });
      expect(r.nonFinite).toMatch(/^the (task loss is NaN|gradient of \S+ holds NaN)/);
      expect(r.workers.map((w) => w.nonFinite)).toEqual([r.nonFinite, r.nonFinite]);
      const after = await cluster.getState();
      const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      expect(same(after.params, before.params)).toBe(true);
      expect(same(after.adam.m, before.adam.m) && same(after.adam.v, before.adam.v)).toBe(true);
      expect(after.adam.t).toBe(before.adam.t);
    } finally {
      await cluster.close();
    }
  }, 120_000);
});

describe('resume', () => {
  let models: string;
  beforeAll(() => {
    models = path.join(dir, 'resume');
    const r = runCli(['train', '--data-dir', data, '--model-dir', models, ...TINY, '--n-epoch', '1', '--seed', '2']);
    expect(r.code, r.stderr).toBe(0);
  });

  it('says when the run is complete and exits 0 doing nothing', () => {
    const before = fs.readFileSync(path.join(models, 'model_out_last.json'), 'utf8');
    const r = runCli(['train', '--data-dir', data, '--model-dir', models, ...TINY, '--n-epoch', '1', '--seed', '2', '--resume']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/model_out_last: all 1 epochs of this run are done \(--n-epoch 1\); nothing to resume/);
    expect(fs.readFileSync(path.join(models, 'model_out_last.json'), 'utf8')).toBe(before);
  });

  // Each flag that decides the result, changed on resume: refused before any worker starts.
  const changes: [string, string[]][] = [
    ['--lr', ['--lr', '0.001']],
    ['--micro-batch', ['--micro-batch', '4']],
    ['--workers/--gpus', ['--workers', '2']],
    ['--train-batch', ['--train-batch', '2']],
    ['--seed', ['--seed', '3']],
    ['--input-size', ['--input-size', '96']],
    ['--arch', ['--arch', 'tiny50']],
    ['--cam', ['--cam', 'autodiff']],
    ['--original-flip-bug', ['--original-flip-bug']],
    ['--freeze-bn', ['--freeze-bn']],
    ['--select-on', ['--select-on', 'test']],
    ['--attention-weight', ['--attention-weight', '2']],
  ];
  for (const [flag, extra] of changes) {
    it(`refuses a changed ${flag}`, () => {
      const args = [...TINY, '--n-epoch', '2', '--seed', '2'];
      // later flags win in commander: the changed value is appended
      const r = runCli(['train', '--data-dir', data, '--model-dir', models, ...args, ...extra, '--resume']);
      expect(r.code, r.stderr).toBe(2);
      expect(errorLine(r.stderr)).toContain(`model_out_last.json: was written with ${flag} `);
    });
  }
});

describe('flags that cannot mean what they say', () => {
  const cases: [string[], RegExp][] = [
    [['--step-timeout', '3000000'], /--step-timeout must be more than 0 and at most 2147483 seconds/],
    [['--step-timeout', '0'], /--step-timeout must be more than 0/],
    [['--workers', '0'], /--workers must be at least 1 \(got 0\)/],
    [['--workers', '1000'], /--workers 1000: more than \d+ CPU replicas/],
    [['-j', '1000'], /-j\/--loader-threads 1000: more than \d+ image-decoding threads/],
    [['--threads', '0'], /--threads must be at least 1/],
    [['--gpus', '0', '--workers', '2'], /--workers cannot be combined with --gpus/],
    [['--model-name', '../x'], /--model-name "\.\.\/x": must be a plain name/],
    [['--model-name', ''], /--model-name "": must not be empty/],
    [['--model-name', '.hidden'], /--model-name "\.hidden": must not start with a dot/],
  ];
  for (const [flags, message] of cases) {
    it(`refuses ${flags.join(' ')}`, () => {
      const models = path.join(dir, 'never');
      const r = runCli(['train', '--data-dir', data, '--model-dir', models, '--arch', 'tiny18', '--input-size', '64', '--backend', 'wasm', ...flags]);
      expect(r.code, r.stderr).toBe(2);
      expect(errorLine(r.stderr)).toMatch(message);
      expect(fs.existsSync(models)).toBe(false);
    });
  }

  it('warns that --input-size 32 gives a 1x1 Grad-CAM', () => {
    const r = runCli(['train', '--data-dir', data, '--model-dir', path.join(dir, 'px32'), ...TINY, '--input-size', '32', '--n-epoch', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: --input-size 32 gives a 1x1 Grad-CAM grid/);
  });
});

describe('output through a pipe', () => {
  it('predict --json over 64 images reaches a slow reader whole', async () => {
    const weights = path.join(dir, 'pipe.safetensors');
    await initBackend('cpu');
    const model = createModel('tiny18', 2, 1);
    saveWeights(model, weights);
    disposeModel(model);
    const images = fs.readdirSync(path.join(data, 'gender_data', 'test'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
    expect(images.length).toBe(64);
    // A reader that takes nothing for 3 s, as `| jq` on a busy machine: the 64 KiB pipe fills
    // long before, so the command must wait for it to drain before exiting.
    const outFile = path.join(dir, 'predict.json');
    const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
    const argv = [process.execPath, CLI, 'predict', '--arch', 'tiny18', '--num-classes', '2', '--backend', 'wasm', '--weights', weights, '--json', ...images];
    const child = spawn('bash', ['-c', `set -o pipefail; ${argv.map(quote).join(' ')} 2>/dev/null | (sleep 3; cat > ${quote(outFile)})`], { stdio: 'ignore' });
    const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
    expect(code).toBe(0);
    const text = fs.readFileSync(outFile, 'utf8');
    expect(text.length).toBeGreaterThan(65_536);
    const out = JSON.parse(text) as { predictions: { image: string }[] };
    expect(out.predictions.map((p) => p.image)).toEqual(images);
  }, 240_000);
});
