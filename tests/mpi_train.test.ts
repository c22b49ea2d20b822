// `mpirun -np N gradia-dist train` on this machine: the ranks stay bitwise identical, the
// result is bitwise that of the single-machine cluster of the same size (the MPI all-reduce
// keeps the ring's summation order), a killed rank leaves a checkpoint that resumes bit for
// bit, a stopped rank is named by the watchdog, and ranks that see different data sets stop
// with one line. Tiny: tiny18 at 32 px, 12 training images.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../src/model/safetensors.js';
import { runCli } from './helpers/cli.js';
import { makeDataSet, type MadeDataSet } from './helpers/data_set.js';
import { exited, rankPid, requireMpi, runMpi, startMpi, waitForStderr } from './helpers/mpi.js';

const canRun = requireMpi();

/** The tensor bytes of a safetensors file (its header, which names the checkpoint id, left out). */
function tensorBytes(file: string): Buffer {
  const b = fs.readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  return b.subarray(8 + n);
}

function expectSameTensors(dirA: string, dirB: string, names: string[]): void {
  for (const n of names) {
    const a = tensorBytes(path.join(dirA, `${n}.safetensors`));
    const b = tensorBytes(path.join(dirB, `${n}.safetensors`));
    expect(a.length, n).toBeGreaterThan(0);
    expect(Buffer.compare(a, b), `${n}.safetensors of ${dirA} and ${dirB}`).toBe(0);
  }
}

const CHECKPOINTS = ['model_out', 'model_out_last', 'model_out_last.optim'];

describe.skipIf(!canRun)('mpirun -np N gradia-dist train', () => {
  let ds: MadeDataSet;
  let other: MadeDataSet;
  const train = (modelDir: string, epochs: number, extra: string[] = []): string[] => [
    'train', '--data-dir', ds.data, '--model-dir', modelDir, '--arch', 'tiny18', '--input-size', '32', '--n-epoch', String(epochs),
    '--train-batch', '4', '--micro-batch', '2', '--lr', '1e-3', '--seed', '7', '--backend', 'wasm', '-j', '1', '--checkpoint-every', '1', ...extra,
  ];

  beforeAll(() => {
    ds = makeDataSet('gradia-mpi-', { train: 12, val: 4, test: 4, size: 32, seed: 11 });
    other = makeDataSet('gradia-mpi-other-', { train: 12, val: 4, test: 4, size: 32, seed: 12 });
  });
  afterAll(() => {
    for (const d of [ds, other]) if (d) fs.rmSync(d.dir, { recursive: true, force: true });
  });

  it('2 ranks, killed (kill -9) and resumed: bitwise the uninterrupted --workers 2 cluster, identical on every rank', async () => {
    const cluster = path.join(ds.dir, 'w2');
    const w = runCli([...train(cluster, 3), '--workers', '2']);
    expect(w.code, w.stderr).toBe(0);

    // kill -9 rank 1 after the first epoch; the launcher names it; --resume finishes the run.
    const mpiDir = path.join(ds.dir, 'np2');
    const child = startMpi(2, train(mpiDir, 3));
    const err = waitForStderr(child, /phase 1 epoch 1\/3 done/);
    await err.until;
    expect(err.text()).toMatch(/^rank 0: host \S+, pid \d+, backend wasm$/m);
    expect(err.text()).toMatch(/^rank 1: host \S+, pid \d+, backend wasm$/m);
    process.kill(rankPid(err.text(), 1), 'SIGKILL');
    const code = await exited(child);
    expect(code).not.toBe(0);
    expect(err.text()).toMatch(/process rank 1 with PID \d+ on node \S+ exited on signal 9/);
    expect(err.text()).toMatch(/^gradia-dist: rank 0 \(host \S+\): stopped by the MPI launcher .*the last checkpoint is .*model_out_last: rerun with --resume$/m);
    const meta = JSON.parse(fs.readFileSync(path.join(mpiDir, 'model_out_last.json'), 'utf8')) as { step: number };
    expect(meta.step).toBeGreaterThanOrEqual(3);
    expect(meta.step).toBeLessThan(9);

    // The resumed run compares the ranks' weight checksums after every step.
    const r = runMpi([[2, [...train(mpiDir, 3), '--resume', '--check-every', '1', '--json']]]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resuming model_out_last/);
    expect(r.stderr).toMatch(/^weights identical on all 2 ranks \(checksum [0-9a-f]{8}-[0-9a-f]{8} after step 9\)$/m);
    // Only rank 0 prints the summary.
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ command: 'train', workers: 2, ranks: 2 });
    expectSameTensors(mpiDir, cluster, CHECKPOINTS);
  }, 240_000);

  it('3 ranks: bitwise the --workers 3 cluster', () => {
    const mpiDir = path.join(ds.dir, 'np3');
    const r = runMpi([[3, [...train(mpiDir, 1), '--check-every', '1']]]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^weights identical on all 3 ranks/m);
    const cluster = path.join(ds.dir, 'w3');
    const w = runCli([...train(cluster, 1), '--workers', '3']);
    expect(w.code, w.stderr).toBe(0);
    expectSameTensors(mpiDir, cluster, CHECKPOINTS);
  }, 180_000);

  it('a rank stopped (SIGSTOP) past --step-timeout is named and the job aborted', async () => {
    const child = startMpi(2, train(path.join(ds.dir, 'stopped'), 50, ['--step-timeout', '15']));
    const err = waitForStderr(child, /phase 1 epoch 1\/50 done/);
    let pid = 0;
    try {
      await err.until;
      pid = rankPid(err.text(), 1);
      process.kill(pid, 'SIGSTOP');
      const code = await exited(child);
      expect(code).not.toBe(0);
      // One line, from the rank that kept running; the stopped one is named by its heartbeat's silence.
      const ours = err.text().split('\n').filter((l) => l.startsWith('gradia-dist:'));
      expect(ours, err.text()).toHaveLength(1);
      expect(ours[0]).toMatch(/^gradia-dist: step \d+ \(epoch 2\) did not finish within 15 s \(--step-timeout\): rank 1 \(host \S+, pid \d+\) stopped responding \(no heartbeat for \d+ s: stopped, hung or cut off\); rank 0 \(\S+\) waited; aborting the job \(MPI_Abort\); the last checkpoint is .*model_out_last: rerun with --resume$/);
    } finally {
      if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      child.kill('SIGKILL');
    }
  }, 180_000);

  it('ranks that see different data sets stop with one line naming the host', () => {
    const base = train(path.join(ds.dir, 'mismatch'), 1);
    const otherArgs = base.map((a) => (a === ds.data ? other.data : a));
    const r = runMpi([[1, base], [1, otherArgs]]);
    expect(r.code).not.toBe(0);
    const ours = r.stderr.split('\n').filter((l) => l.startsWith('gradia-dist:'));
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatch(/^gradia-dist: .*data: on host \S+ \(rank 1\) the data set differs from the one on \S+ \(rank 0\) \(fingerprint \S+ vs \S+\): every rank must see the same data$/);
  }, 120_000);

  it('ranks that start phase 2 from different checkpoints stop with one line naming the host', () => {
    // The first test's np2 and w2 dirs hold the same phase-1 weights under different checkpoint ids.
    const a = path.join(ds.dir, 'np2');
    const b = path.join(ds.dir, 'w2');
    expect(fs.existsSync(path.join(b, 'model_out.json')), 'the first test ran').toBe(true);
    const phase2 = (dir: string): string[] => ['train', '--phase', '2', '--data-dir', ds.data, '--model-dir', dir, '--n-epoch', '1', '--train-batch', '4', '--micro-batch', '2', '--backend', 'wasm', '-j', '1'];
    const r = runMpi([[1, phase2(a)], [1, phase2(b)]]);
    expect(r.code).not.toBe(0);
    const ours = r.stderr.split('\n').filter((l) => l.startsWith('gradia-dist:'));
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatch(/^gradia-dist: .*model_out\.json: on host \S+ \(rank 1\) the checkpoint differs from the one on \S+ \(rank 0\) \(id [0-9a-f]+ vs [0-9a-f]+\): every rank must start from the same checkpoint$/);
    expect(fs.existsSync(path.join(a, 'model_out_p2_last.json'))).toBe(false);
  }, 120_000);

  it('phase 2 with RES-G and RES-L (threshold over every rank\'s samples, imputation network): 2 ranks bitwise the --workers 2 cluster', () => {
    // 64 px (a 2x2 grid) and maps with "do not look here" labels, so the robust terms have work to do
    const neg = makeDataSet('gradia-mpi-res-', { train: 8, val: 4, test: 2, size: 64, seed: 5 });
    try {
      // Maps whose labels survive RES's nearest-neighbour resize to 2x2 (it reads pixels 0 and 32 of each
      // axis, which the generated shapes seldom cover): "look here" on one half, "do not look here" on a quadrant.
      const valFile = path.join(neg.data, 'attention_val.json');
      const entries = JSON.parse(fs.readFileSync(valFile, 'utf8')) as { img: string; attention: number[][] }[];
      entries.forEach((e, k) => {
        e.attention = Array.from({ length: 64 }, (_, y) => Array.from({ length: 64 }, (_, x) => ((x < 32) === (k % 2 === 0) ? 1 : y >= 32 ? -1 : 0)));
      });
      fs.writeFileSync(valFile, JSON.stringify(entries));
      // judged, so they carry attention weight (GRADIA gives unjudged maps none)
      fs.writeFileSync(path.join(neg.data, 'reasonablity_val.json'), JSON.stringify(Object.fromEntries(entries.map((e) => [path.basename(e.img), 'Unreasonable Accurate']))));
      const phase1 = path.join(neg.dir, 'p1');
      const p1 = runCli(['train', '--data-dir', neg.data, '--model-dir', phase1, '--arch', 'tiny18', '--input-size', '64', '--n-epoch', '1', '--train-batch', '4', '--backend', 'wasm', '-j', '1', '--checkpoint-every', '0']);
      expect(p1.code, p1.stderr).toBe(0);
      for (const objective of [['--objective', 'res-g'], ['--objective', 'res-l', '--imputation', 'd1']]) {
        const tag = objective[1]!;
        const phase2 = (dir: string): string[] => ['train', '--phase', '2', '--data-dir', neg.data, '--model-dir', dir, '--n-epoch', '1', '--train-batch', '4', '--micro-batch', '2', '--lr', '1e-3', '--seed', '7', '--backend', 'wasm', '-j', '1', ...objective];
        const mpiDir = path.join(neg.dir, `${tag}-np2`);
        const clusterDir = path.join(neg.dir, `${tag}-w2`);
        fs.cpSync(phase1, mpiDir, { recursive: true });
        fs.cpSync(phase1, clusterDir, { recursive: true });
        const r = runMpi([[2, [...phase2(mpiDir), '--check-every', '1']]]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).not.toMatch(/no label left/);
        expect(r.stderr).toMatch(/phase 2 epoch 1\/1 done .* att (?!0\.0000)\d+\.\d{4}/); // the attention loss was not zero
        expect(r.stderr).toMatch(/^weights identical on all 2 ranks/m);
        const w = runCli([...phase2(clusterDir), '--workers', '2']);
        expect(w.code, w.stderr).toBe(0);
        expectSameTensors(mpiDir, clusterDir, ['model_out_p2_last', 'model_out_p2_last.optim']);
        if (tag === 'res-l') {
          const names = [...readSafetensors(path.join(mpiDir, 'model_out_p2_last.safetensors')).keys()];
          expect(names.some((k) => k.startsWith('imp_conv')), 'the imputation network is in the checkpoint').toBe(true);
        }
      }
    } finally {
      fs.rmSync(neg.dir, { recursive: true, force: true });
    }
  }, 240_000);

  it('without the addon, the run stops with one line saying what to install', () => {
    const r = runMpi([[2, train(path.join(ds.dir, 'noaddon'), 1)]], { env: { GRADIA_MPI_ADDON: '/nonexistent/gradia_mpi.node' } });
    expect(r.code).not.toBe(0);
    const ours = r.stderr.split('\n').filter((l) => l.startsWith('gradia-dist:'));
    expect(ours).toEqual([expect.stringMatching(/^gradia-dist: started by an MPI launcher \(OMPI_COMM_WORLD_\*: rank 0 of 2\), but the Open MPI addon is not built .*apt-get install libopenmpi-dev openmpi-bin/)]);
  }, 60_000);
});
