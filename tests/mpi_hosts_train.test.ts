// `mpirun ... gradia-dist train` across two hosts (network namespaces, tests/helpers/netns.ts):
// the ranks agree bitwise and equal the single-machine run; kill -9 of one rank's process is
// named (rank and host) and --resume continues bit for bit; a stopped rank is named by the
// step watchdog; nothing of the namespaces is left behind. Needs root, iproute2, Open MPI and
// the MPI addon: skipped on a workstation without them, FAILS in CI (env CI set).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mpiAvailable } from '../src/comm/mpi.js';
import { expectBitwiseEqual, tensorsOf } from './helpers/checkpoint_bits.js';
import { CLI, runCli } from './helpers/cli.js';
import { makeDataSet, type MadeDataSet } from './helpers/data_set.js';
import { capture, createHosts, leftoverObjects, netnsSupport, type Captured, type NetnsHosts } from './helpers/netns.js';

const ns = netnsSupport();
const addon = mpiAvailable();
const support = !ns.ok ? ns.why : !addon.ok ? addon.reason : null;
const mustRun = support === null || !!process.env.CI;

// 12 training images, global batch 4: 3 steps; a checkpoint after each (to kill after one)
const ARGS = ['--phase', '1', '--arch', 'tiny18', '--input-size', '64', '--backend', 'wasm', '--train-batch', '4', '--micro-batch', '2', '--n-epoch', '1', '--checkpoint-every', '1', '--check-every', '1', '--seed', '7'];

/** "rank R: host H, pid P" lines of the job's start, as rank 0 prints them. */
function rankPids(text: string): Map<number, { host: string; pid: number }> {
  return new Map([...text.matchAll(/rank (\d+): host (\S+), pid (\d+)/g)].map((m) => [Number(m[1]), { host: m[2]!, pid: Number(m[3]) }]));
}

/**
 * A `whenRunning` watcher that sends `signal` to rank 1 once the job has printed its ranks and
 * written its first resumable checkpoint into `dir`; `pid()` is the process signalled, if any.
 */
function signalRank1AfterCheckpoint(dir: string, signal: NodeJS.Signals): { whenRunning: (output: string) => void; pid: () => number | null } {
  let signalled: number | null = null;
  return {
    whenRunning: (output) => {
      const victim = rankPids(output).get(1);
      if (signalled === null && victim && fs.existsSync(path.join(dir, 'model_out_last.json'))) {
        signalled = victim.pid;
        process.kill(victim.pid, signal);
      }
    },
    pid: () => signalled,
  };
}

describe.runIf(mustRun)('gradia-dist train across two namespace hosts', () => {
  let hosts: NetnsHosts;
  let set: MadeDataSet;
  const modelDir = (name: string): string => path.join(set.dir, name);

  /** mpirun -np 2 from host 1 over both hosts; `whenRunning` sees the output as it comes. */
  const mpiTrain = async (dir: string, extra: string[], o: { timeoutMs?: number; whenRunning?: (output: string) => void } = {}): Promise<Captured> => {
    let output = '';
    // polled (the job may print nothing while it trains and writes checkpoints)
    const poll = o.whenRunning ? setInterval(() => o.whenRunning!(output), 50) : null;
    try {
      return await capture(hosts.onHost(0, ['mpirun', '-np', '2', ...hosts.mpirunOptions(), process.execPath, CLI, 'train', '--data-dir', set.data, '--model-dir', dir, ...ARGS, ...extra]), {
        timeoutMs: o.timeoutMs ?? 240_000,
        onOutput: (stdout, stderr) => (output = stdout + stderr),
      });
    } finally {
      if (poll) clearInterval(poll);
    }
  };

  beforeAll(() => {
    if (support !== null) throw new Error(`CI must run the multi-host training tests: ${support}`);
    hosts = createHosts(2);
    set = makeDataSet('gdt-hosts-train-', { train: 12, val: 4, test: 4, size: 64, seed: 11 });
  });

  afterAll(() => {
    const id = hosts?.id;
    hosts?.close();
    if (set) fs.rmSync(set.dir, { recursive: true, force: true });
    // every namespace and link of this file's hosts is gone
    if (id) expect(leftoverObjects().filter((o) => o.includes(id))).toEqual([]);
  });

  it('ranks on two hosts agree bitwise and equal the single-machine 2-worker run', { timeout: 300_000 }, async () => {
    const [job, single] = await Promise.all([
      mpiTrain(modelDir('hosts'), []),
      // the reference: two worker threads in one process, the ring over MessagePorts
      Promise.resolve().then(() => runCli(['train', '--data-dir', set.data, '--model-dir', modelDir('single'), ...ARGS, '--workers', '2'])),
    ]);
    const out = job.stdout + job.stderr;
    expect(job.code, out).toBe(0);
    expect(single.code, single.stderr).toBe(0);
    const ranks = rankPids(out);
    expect([...ranks.keys()].sort()).toEqual([0, 1]);
    expect(ranks.get(0)!.host).toBe('gdt-node1');
    expect(ranks.get(1)!.host).toBe('gdt-node2');
    // every rank's weights checksum was compared after the last step (--check-every 1)
    expect(out).toMatch(/weights identical on all 2 ranks \(checksum \S+ after step 3\)/);
    // rank 0 wrote the checkpoints; bit for bit the single-machine result
    for (const f of ['model_out_last.safetensors', 'model_out_last.optim.safetensors']) {
      expectBitwiseEqual(tensorsOf(path.join(modelDir('hosts'), f)), tensorsOf(path.join(modelDir('single'), f)));
    }
  });

  // The two fault runs share nothing but the hosts: they run at the same time (test time).
  it.concurrent('kill -9 of one rank: one line names its rank and host; --resume finishes bit for bit', { timeout: 300_000 }, async ({ expect }) => {
    const dir = modelDir('killed');
    // after the first resumable checkpoint: kill rank 1 (on host 2) as an OOM killer would
    const kill = signalRank1AfterCheckpoint(dir, 'SIGKILL');
    const job = await mpiTrain(dir, [], { whenRunning: kill.whenRunning });
    const out = job.stdout + job.stderr;
    expect(kill.pid(), out).not.toBeNull();
    expect(job.timedOut).toBe(false);
    expect(job.code, out).not.toBe(0);
    // Open MPI names the rank and its host; rank 0 says what to resume
    expect(out).toMatch(/rank 1 .*(10\.213\.0\.2|gdt-node2)|(10\.213\.0\.2|gdt-node2).*rank 1/);
    expect(out).toMatch(/rerun with --resume/);

    const resumed = await mpiTrain(dir, ['--resume']);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    for (const f of ['model_out_last.safetensors', 'model_out_last.optim.safetensors']) {
      expectBitwiseEqual(tensorsOf(path.join(dir, f)), tensorsOf(path.join(modelDir('hosts'), f)));
    }
  });

  it.concurrent('a stopped rank (SIGSTOP) is named by the step watchdog and the job ends', { timeout: 240_000 }, async ({ expect }) => {
    const dir = modelDir('stopped');
    const stop = signalRank1AfterCheckpoint(dir, 'SIGSTOP');
    try {
      const job = await mpiTrain(dir, ['--step-timeout', '15'], { timeoutMs: 180_000, whenRunning: stop.whenRunning });
      const out = job.stdout + job.stderr;
      expect(stop.pid(), out).not.toBeNull();
      expect(job.timedOut, out).toBe(false); // the watchdog ended it, not this test
      expect(job.code, out).not.toBe(0);
      // one line: who did not arrive (rank 1 on gdt-node2), who did (rank 0)
      const line = out.split('\n').find((l) => l.includes('--step-timeout'));
      expect(line, out).toBeDefined();
      // (the wording is the MPI cluster's; what must be in it: who is late, where, who waited)
      expect(line).toMatch(/rank 1 \(host gdt-node2\b/);
      expect(line).toMatch(/within 15 s/);
      expect(line).toMatch(/rank 0 \(gdt-node1\) (arrived|waited)|arrived: rank 0/);
      expect(line).not.toMatch(/rank 0 \(host gdt-node1\b/); // rank 0 is not the one blamed
    } finally {
      const stopped = stop.pid();
      if (stopped !== null) {
        try {
          process.kill(stopped, 'SIGKILL');
        } catch {
          // already ended by the job's abort
        }
      }
    }
  });
});
