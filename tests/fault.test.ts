// A worker process killed mid-epoch: the run stops cleanly naming the worker and leaves a
// resumable checkpoint (or restarts with --max-restarts 1); either way the final weights
// equal those of an uninterrupted run.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../src/model/safetensors.js';
import { runCli, startCli } from './helpers/cli.js';

const ARGS = ['--phase', '1', '--arch', 'tiny18', '--input-size', '64', '--workers', '2', '--backend', 'wasm', '--train-batch', '4', '--micro-batch', '2', '--n-epoch', '1', '--checkpoint-every', '1', '--seed', '9', '-j', '1'];

function weights(dir: string): Map<string, Buffer> {
  return new Map([...readSafetensors(path.join(dir, 'model_out_last.safetensors'))].map(([k, v]) => [k, Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength)]));
}

function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
  } catch {
    return [];
  }
}

/** Starts a run with worker processes and SIGKILLs worker 1's process once step 2 is checkpointed. */
async function runAndKillAWorker(data: string, modelDir: string, extra: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = startCli(['train', '--data-dir', data, '--model-dir', modelDir, ...ARGS, '--processes', ...extra]);
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += String(d); });
  child.stdout!.resume();
  const exited = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
  const last = path.join(modelDir, 'model_out_last.json');
  const deadline = Date.now() + 120_000;
  let killed = false;
  while (!killed) {
    if (Date.now() > deadline) throw new Error(`no checkpoint at step 2 in time:\n${stderr}`);
    try {
      const meta = JSON.parse(fs.readFileSync(last, 'utf8')) as { step: number };
      const pids = childPids(child.pid!);
      if (meta.step >= 2 && pids.length === 2) {
        process.kill(pids[1]!, 'SIGKILL');
        killed = true;
      }
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { code: await exited, stderr };
}

describe('a worker killed mid-epoch', () => {
  let dir: string;
  let data: string;
  let reference: Map<string, Buffer>;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-fault-'));
    data = path.join(dir, 'data');
    expect(runCli(['make-data', '--out', data, '--train', '24', '--val', '4', '--test', '4', '--size', '64', '--seed', '2']).code).toBe(0);
    // Uninterrupted reference (threads: bitwise the same as processes, see cluster tests).
    const r = runCli(['train', '--data-dir', data, '--model-dir', path.join(dir, 'reference'), ...ARGS]);
    expect(r.code, r.stderr).toBe(0);
    reference = weights(path.join(dir, 'reference'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('stops the run naming the worker; --resume then ends with the uninterrupted weights', async () => {
    const models = path.join(dir, 'stopped');
    const r = await runAndKillAWorker(data, models, []);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/worker 1 \(pid \d+\) was killed by SIGKILL/);
    expect(r.stderr).toContain('rerun with --resume');
    const resumed = runCli(['train', '--data-dir', data, '--model-dir', models, ...ARGS, '--processes', '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const got = weights(models);
    for (const [k, v] of reference) expect(v.equals(got.get(k)!), k).toBe(true);
  });

  it('restarts from the last checkpoint with --max-restarts 1 and ends with the same weights', async () => {
    const models = path.join(dir, 'restarted');
    const r = await runAndKillAWorker(data, models, ['--max-restarts', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/restarting the workers from model_out_last \(restart 1 of 1\)/);
    const got = weights(models);
    for (const [k, v] of reference) expect(v.equals(got.get(k)!), k).toBe(true);
  });
});
