// The model dir under real use: one run at a time (a lock with pid and host), stale locks
// and stale temp files of dead runs, a full disk mid-run, unwritable output folders.
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainCheckpointWriteFailure, loadCheckpoint, readCheckpointMeta, saveCheckpoint } from '../src/coordinator/checkpoint.js';
import { FileWriteError } from '../src/util/fs_errors.js';
import { LOCK_FILE, acquireModelDirLock, removeStaleTempFiles } from '../src/coordinator/model_dir_lock.js';
import { tensorSpecs } from '../src/model/resnet.js';
import { runCli, startCli } from './helpers/cli.js';
import { makeDataSet } from './helpers/data_set.js';

const TRAIN = ['--arch', 'tiny18', '--input-size', '64', '--workers', '1', '--backend', 'wasm', '--train-batch', '4', '--micro-batch', '2', '--seed', '3'];

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  expect(r.status).toBe(0);
  return r.pid!;
}

async function waitFor(what: string, cond: () => boolean, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += String(d); });
  child.stdout!.resume();
  return new Promise((res) => child.once('close', (code, signal) => res({ code, signal, stderr })));
}

/** Every file of a folder with its size and mtime: any write shows. */
function snapshot(dir: string): string {
  return fs.readdirSync(dir).sort().map((n) => {
    const st = fs.statSync(path.join(dir, n));
    return `${n} ${st.size} ${st.mtimeMs}`;
  }).join('\n');
}

const isRoot = process.getuid?.() === 0;
/** Mount tests need root; under CI they must not be skipped silently. */
function needRoot(): boolean {
  if (isRoot) return true;
  if (process.env.CI === 'true') throw new Error('this test mounts a tmpfs and needs root (CI=true: not skipping)');
  return false;
}

function mountTmpfs(dir: string, opts: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount -t tmpfs -o ${opts} failed: ${r.stderr}`);
}
const umount = (dir: string) => spawnSync('umount', [dir]);

describe('model dir lock', () => {
  let dir: string;
  let data: string;
  beforeAll(() => {
    ({ dir, data } = makeDataSet('gradia-modeldir-', { train: 16, val: 4, test: 4, size: 64, seed: 2 }));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lets exactly one of two concurrent runs on one dir train; the other stops with one line and writes nothing', async () => {
    const models = path.join(dir, 'shared');
    const lock = path.join(models, LOCK_FILE);
    const a = startCli(['train', '--data-dir', data, '--model-dir', models, ...TRAIN, '--n-epoch', '2', '--checkpoint-every', '1']);
    const aDone = exitOf(a);
    await waitFor('the first run to take the lock', () => fs.existsSync(lock));
    const held = JSON.parse(fs.readFileSync(lock, 'utf8'));
    expect(held).toMatchObject({ pid: a.pid, host: os.hostname() });
    expect(held.command).toContain('train');
    // Freeze the first run so that nothing changes in the dir while the second one tries.
    a.kill('SIGSTOP');
    try {
      const before = snapshot(models);
      const b = runCli(['train', '--data-dir', data, '--model-dir', models, ...TRAIN, '--n-epoch', '1', '--seed', '9']);
      expect(b.code).toBe(2);
      const lines = b.stderr.trim().split('\n');
      expect(lines, b.stderr).toHaveLength(1);
      expect(lines[0]).toBe(`gradia-dist: ${lock}: in use by pid ${a.pid} on host ${os.hostname()} since ${held.startedAt} (${held.command})`);
      expect(snapshot(models)).toBe(before);
    } finally {
      a.kill('SIGCONT');
    }
    const ra = await aDone;
    expect(ra.code, ra.stderr).toBe(0);
    // Everything in the dir is the first run's (seed 3, 2 epochs), and its lock is gone.
    for (const name of ['model_out', 'model_out_last']) {
      const meta = JSON.parse(fs.readFileSync(path.join(models, `${name}.json`), 'utf8'));
      expect(meta.config.seed).toBe(3);
      expect(meta.config.nEpoch).toBe(2);
    }
    expect(JSON.parse(fs.readFileSync(path.join(models, 'model_out_last.json'), 'utf8')).history).toHaveLength(2);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('takes over a stale lock of a dead process on this host, and says so', () => {
    const models = path.join(dir, 'stale');
    fs.mkdirSync(models);
    const pid = deadPid();
    const lock = path.join(models, LOCK_FILE);
    fs.writeFileSync(lock, JSON.stringify({ pid, host: os.hostname(), startedAt: '2020-01-01T00:00:00.000Z', command: 'gradia-dist train', token: 'old' }));
    const r = runCli(['train', '--data-dir', data, '--model-dir', models, ...TRAIN, '--n-epoch', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`${lock}: taking over the stale lock of pid ${pid} on host ${os.hostname()} since 2020-01-01T00:00:00.000Z`);
    expect(fs.existsSync(path.join(models, 'model_out.json'))).toBe(true);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('never takes over a lock from another host, and says how to remove it', () => {
    const models = path.join(dir, 'remote');
    fs.mkdirSync(models);
    const lock = path.join(models, LOCK_FILE);
    const text = JSON.stringify({ pid: deadPid(), host: `${os.hostname()}-elsewhere`, startedAt: '2020-01-01T00:00:00.000Z', command: 'gradia-dist train', token: 'x' });
    fs.writeFileSync(lock, text);
    const r = runCli(['train', '--data-dir', data, '--model-dir', models, ...TRAIN, '--n-epoch', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${lock}: in use by pid`);
    expect(r.stderr).toContain(`on host ${os.hostname()}-elsewhere`);
    expect(r.stderr).toContain(`a lock from another host is not taken over: if that run has ended, delete ${lock} and rerun`);
    expect(fs.readFileSync(lock, 'utf8')).toBe(text);
    expect(fs.readdirSync(models)).toEqual([LOCK_FILE]);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`releases the lock when the run is stopped by ${signal}`, async () => {
      const models = path.join(dir, `signal-${signal}`);
      const lock = path.join(models, LOCK_FILE);
      const child = startCli(['train', '--data-dir', data, '--model-dir', models, ...TRAIN, '--n-epoch', '50']);
      const done = exitOf(child);
      await waitFor('the run to take the lock', () => fs.existsSync(lock));
      child.kill(signal);
      const r = await done;
      expect(r.signal).toBe(signal);
      expect(fs.existsSync(lock)).toBe(false);
    });
  }

  it('takes over a lock that names this very pid but is not held (a dead run whose pid was reused)', () => {
    const models = path.join(dir, 'reused');
    fs.mkdirSync(models);
    fs.writeFileSync(path.join(models, LOCK_FILE), JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: '2020-01-01T00:00:00.000Z', command: 'gradia-dist train', token: 'old' }));
    const logs: string[] = [];
    const lock = acquireModelDirLock(models, { log: (l) => logs.push(l) });
    try {
      expect(logs).toEqual([`${path.join(models, LOCK_FILE)}: taking over the stale lock of pid ${process.pid} on host ${os.hostname()} since 2020-01-01T00:00:00.000Z (gradia-dist train): that process has ended`]);
      expect(JSON.parse(fs.readFileSync(lock.file, 'utf8')).token).toBe(lock.info.token);
      // Held now: a second acquisition in this process is refused.
      expect(() => acquireModelDirLock(models)).toThrow(`${path.join(models, LOCK_FILE)}: in use by pid ${process.pid}`);
    } finally {
      lock.release();
    }
  });

  it('a reader does not roll a journal forward while another live run holds the lock (that run commits it)', () => {
    const models = path.join(dir, 'reader');
    const n = tensorSpecs('tiny18', 2).filter((s) => !s.isBuffer).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
    const nb = tensorSpecs('tiny18', 2).filter((s) => s.isBuffer).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
    const state = { params: new Float32Array(n), buffers: new Float32Array(nb), adam: { m: new Float32Array(n), v: new Float32Array(n), t: 0 } };
    const meta = (name: string, step: number) => ({ name, arch: 'tiny18' as const, classes: ['a', 'b'], numClasses: 2, inputSize: 64, phase: 1 as const, epoch: 0, step,
      position: { epoch: 0, batch: step }, metrics: {}, history: [], best: null, parent: null, config: {}, dataFingerprint: 'f' });
    const old = saveCheckpoint(models, meta('m', 1), state, false);
    // A writer in the middle of its commit: the new checkpoint's JSON waits as m.json.next.
    const next = saveCheckpoint(models, meta('n', 2), state, false);
    fs.renameSync(path.join(models, 'n.safetensors'), path.join(models, 'm.safetensors.next'));
    fs.writeFileSync(path.join(models, 'm.json.next'), JSON.stringify({ ...next, name: 'm' }));
    // The writer: this test's parent process (alive), on this host.
    fs.writeFileSync(path.join(models, LOCK_FILE), JSON.stringify({ pid: process.ppid, host: os.hostname(), startedAt: 'now', command: 'gradia-dist train', token: 't' }));
    expect(readCheckpointMeta(models, 'm').id).toBe(old.id);
    expect(fs.existsSync(path.join(models, 'm.json.next'))).toBe(true);
    expect(fs.existsSync(path.join(models, 'm.safetensors.next'))).toBe(true);
    // Once no live run holds the dir, the next reader completes the commit.
    fs.rmSync(path.join(models, LOCK_FILE));
    expect(readCheckpointMeta(models, 'm').id).toBe(next.id);
    expect(fs.readdirSync(models).sort()).toEqual(['m.json', 'm.safetensors', 'n.json']);
  });

  it('removes temp files and uncommitted journal files of dead runs when it takes the lock, and nothing else', () => {
    const models = path.join(dir, 'temps');
    fs.mkdirSync(models);
    const dead = deadPid();
    const put = (name: string) => fs.writeFileSync(path.join(models, name), 'x');
    const stale = [`.model_out_last.safetensors.next.tmp-${dead}-k3j2`, `.model_out.json.next.tmp-${process.pid}-aa`,
      'model_out_last.safetensors.next', 'model_out_last.optim.safetensors.next'];
    // A live writer's temp file (this test's parent process), a journal whose JSON is
    // written (it rolls forward on the next read), the user's own files.
    const kept = [`.x.safetensors.tmp-${process.ppid}-zz`, 'model_out_2.safetensors.next', 'model_out_2.json.next',
      'model_out.safetensors', 'notes.tmp-1-a', '.hidden'];
    for (const n of [...stale, ...kept]) put(n);
    const logs: string[] = [];
    const lock = acquireModelDirLock(models, { log: (l) => logs.push(l) });
    try {
      expect(fs.readdirSync(models).sort()).toEqual([...kept, LOCK_FILE].sort());
      expect(logs).toHaveLength(1);
      expect(logs[0]).toContain(`${models}: removed 4 file(s) left by an interrupted run`);
      // Idempotent: nothing more to remove.
      expect(removeStaleTempFiles(models)).toEqual([]);
    } finally {
      lock.release();
    }
    expect(fs.existsSync(path.join(models, LOCK_FILE))).toBe(false);
  });

  it('fails before loading data or starting a worker when --model-dir cannot be a directory', () => {
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, 'x');
    const r = runCli(['train', '--data-dir', data, '--model-dir', path.join(file, 'models'), ...TRAIN, '--n-epoch', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([`gradia-dist: --model-dir ${path.join(file, 'models')}: cannot create directory: ${file} is a file, not a directory`]);
  });

  it('fails at once on a read-only --model-dir, and evaluate names the read-only --out-dir', () => {
    if (!needRoot()) return;
    const ro = path.join(dir, 'ro');
    mountTmpfs(ro, 'ro,size=1m');
    try {
      const r = runCli(['train', '--data-dir', data, '--model-dir', path.join(ro, 'models'), ...TRAIN, '--n-epoch', '1']);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([`gradia-dist: --model-dir ${path.join(ro, 'models')}: cannot create directory ${path.join(ro, 'models')}: read-only file system (EROFS)`]);
      // evaluate checks its output folder before it reads the checkpoint or evaluates.
      const e = runCli(['evaluate', '--data-dir', data, '--model-dir', path.join(dir, 'stale'), '--backend', 'wasm', '--workers', '1', '--out-dir', path.join(ro, 'results', 'x')]);
      expect(e.code).toBe(2);
      expect(e.stderr.trim().split('\n')).toEqual([`gradia-dist: --out-dir ${path.join(ro, 'results', 'x')}: cannot create directory ${path.join(ro, 'results')}: read-only file system (EROFS)`]);
    } finally {
      umount(ro);
    }
  });

  it('on a full disk names the file, says the last checkpoint is intact, and --resume goes on after space is freed', async () => {
    if (!needRoot()) return;
    const mnt = path.join(dir, 'small');
    mountTmpfs(mnt, 'size=8m');
    try {
      const models = path.join(mnt, 'models');
      const args = ['train', '--data-dir', data, '--model-dir', models, ...TRAIN, '--n-epoch', '3', '--checkpoint-every', '1'];
      const child = startCli(args);
      const done = exitOf(child);
      await waitFor('the first resumable checkpoint', () => fs.existsSync(path.join(models, 'model_out_last.json')));
      // Fill the file system: the run's next checkpoint write fails.
      const filler = path.join(mnt, 'filler');
      const fd = fs.openSync(filler, 'w');
      try {
        const chunk = Buffer.alloc(64 * 1024, 1);
        for (;;) fs.writeSync(fd, chunk);
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        fs.closeSync(fd);
      }
      const r = await done;
      expect(r.code, r.stderr).toBe(1);
      const errors = r.stderr.trim().split('\n').filter((l) => l.startsWith('gradia-dist:'));
      expect(errors, r.stderr).toHaveLength(1);
      expect(errors[0]).toMatch(new RegExp(`^gradia-dist: ${models}/model_out(_last)?(\\.optim)?\\.(safetensors|json)\\.next: no space left on device \\(ENOSPC\\); the last checkpoint ${models}/model_out_last \\(epoch \\d+, step \\d+\\) is intact: free space and rerun with --resume$`));
      expect(r.stderr.trim().endsWith(errors[0]!)).toBe(true);
      // No temp file is left, the lock is released, and the named checkpoint loads.
      expect(fs.readdirSync(models).filter((n) => n.includes('.tmp-') || n === LOCK_FILE)).toEqual([]);
      const step = Number(/step (\d+)\)/.exec(errors[0]!)![1]);
      fs.rmSync(filler);
      const resumed = runCli([...args, '--resume']);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stderr).toMatch(new RegExp(`resuming model_out_last: .*step ${step}`));
    } finally {
      umount(mnt);
    }
  });

  it('a write error keeps the previous checkpoint of that name bit for bit and leaves no temp file', () => {
    if (!needRoot()) return;
    const mnt = path.join(dir, 'small-unit');
    mountTmpfs(mnt, 'size=4m');
    try {
      const specs = tensorSpecs('tiny18', 2);
      const count = (buf: boolean) => specs.filter((s) => s.isBuffer === buf).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
      const state = (k: number) => {
        const p = Float32Array.from({ length: count(false) }, (_, i) => Math.cos(i + k));
        return { params: p, buffers: new Float32Array(count(true)), adam: { m: p.map((v) => v / 2), v: p.map((v) => v * v), t: k } };
      };
      const meta = { name: 'model_out_last', arch: 'tiny18' as const, classes: ['a', 'b'], numClasses: 2, inputSize: 64, phase: 1 as const, epoch: 3, step: 120,
        position: { epoch: 3, batch: 0 }, metrics: {}, history: [], best: null, parent: null, config: {}, dataFingerprint: 'f' };
      const first = state(1);
      saveCheckpoint(mnt, meta, first);
      const filler = fs.openSync(path.join(mnt, 'filler'), 'w');
      try { for (;;) fs.writeSync(filler, Buffer.alloc(64 * 1024)); } catch { /* full */ } finally { fs.closeSync(filler); }
      let err: unknown;
      try { saveCheckpoint(mnt, { ...meta, step: 121 }, state(2)); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(FileWriteError);
      expect((err as Error).message).toBe(`${path.join(mnt, 'model_out_last.safetensors.next')}: no space left on device (ENOSPC)`);
      expect((explainCheckpointWriteFailure(err, mnt, 'model_out_last') as Error).message).toBe(
        `${path.join(mnt, 'model_out_last.safetensors.next')}: no space left on device (ENOSPC); the last checkpoint ${path.join(mnt, 'model_out_last')} (epoch 3, step 120) is intact: free space and rerun with --resume`);
      expect(fs.readdirSync(mnt).filter((n) => n.includes('.tmp-'))).toEqual([]);
      fs.rmSync(path.join(mnt, 'filler'));
      const back = loadCheckpoint(mnt, 'model_out_last');
      expect(back.meta.step).toBe(120);
      expect(Buffer.from(back.state.params.buffer).equals(Buffer.from(first.params.buffer))).toBe(true);
      expect(Buffer.from(back.state.adam!.v.buffer).equals(Buffer.from(first.adam.v.buffer))).toBe(true);
    } finally {
      umount(mnt);
    }
  });

  it('says when there is no resumable checkpoint yet, and what to fix for other errors', () => {
    const empty = fs.mkdtempSync(path.join(dir, 'none-'));
    const eacces = Object.assign(new Error("EACCES: permission denied, open '/x'"), { code: 'EACCES', syscall: 'open' });
    const err = new FileWriteError(path.join(empty, 'model_out.safetensors.next'), eacces);
    expect((explainCheckpointWriteFailure(err, empty, 'model_out_last') as Error).message).toBe(
      `${path.join(empty, 'model_out.safetensors.next')}: permission denied (EACCES); no resumable checkpoint ${path.join(empty, 'model_out_last')} was written yet: fix that and rerun`);
    const other = new Error('not a write');
    expect(explainCheckpointWriteFailure(other, empty, 'model_out_last')).toBe(other);
  });
});
