// The addon's all-reduce over mpirun: every rank ends with the bits of the ring oracle
// (tests/helpers/ring_oracle.ts: the single-machine ring's summation order), for odd lengths
// split into buckets; allgather keeps rank order and lengths; Open MPI's own all-reduce agrees
// within float rounding. Plus the install step's warning without Open MPI.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../src/util/paths.js';
import { inputFor } from './helpers/mpi_allreduce_child.js';
import { requireMpi } from './helpers/mpi.js';
import { referenceAllReduce } from './helpers/ring_oracle.js';

const canRun = requireMpi();
const child = path.join(repoRoot, 'dist', 'tests', 'helpers', 'mpi_allreduce_child.js');

function run(np: number, n: number, bucket: number): { size: number; ranks: { ring: string; native: string; bytesSent: number }[]; gathered: number[][]; arrivals: number[] } {
  const r = spawnSync('mpirun', ['--oversubscribe', '--bind-to', 'none', '-np', String(np), process.execPath, child], {
    encoding: 'utf8', timeout: 120_000,
    env: { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', ALLREDUCE_N: String(n), ALLREDUCE_BUCKET: String(bucket) },
  });
  if (r.status !== 0) throw new Error(`mpirun exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim());
}

const floats = (b64: string): Float32Array => {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

describe.skipIf(!canRun)('the Open MPI addon under mpirun', () => {
  it.each([[2, 50, 7], [3, 50, 7], [3, 10, 1 << 20]])('%i ranks, %i floats in buckets of %i: the ring oracle\'s bits on every rank', (np, n, bucket) => {
    const out = run(np, n, bucket);
    expect(out.size).toBe(np);
    const inputs = Array.from({ length: np }, (_, r) => inputFor(r, n));
    const want = referenceAllReduce(inputs, bucket);
    if (np === 3) {
      // The order matters for these inputs: plain left-to-right sums differ somewhere.
      const naive = inputs[0]!.map((x, i) => Math.fround(Math.fround(x + inputs[1]![i]!) + inputs[2]![i]!));
      expect(naive.some((v, i) => v !== want[i])).toBe(true);
    }
    for (const [r, got] of out.ranks.entries()) {
      expect(Buffer.from(floats(got.ring).buffer).equals(Buffer.from(want.buffer)), `rank ${r}`).toBe(true);
      const native = floats(got.native);
      for (let i = 0; i < n; i++) expect(native[i]).toBeCloseTo(want[i]!, 4);
      // Reduce-scatter and all-gather: each rank sends 2 (R-1)/R of the vector, per bucket.
      expect(got.bytesSent).toBeGreaterThan(0);
    }
    expect(out.gathered).toEqual(Array.from({ length: np }, (_, r) => Array(r + 1).fill(r)));
    // Every rank announced the same collectives (ring, native, allgather x2 = sequence 0..3).
    expect(out.arrivals).toEqual(Array(np).fill(3));
  }, 120_000);
});

describe('the install step without Open MPI', () => {
  it('warns once about libopenmpi-dev and exits 0', () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'build-native.mjs')], {
      encoding: 'utf8',
      env: { ...process.env, GRADIA_DNNL_HEADER: '/nonexistent/dnnl.hpp', GRADIA_MPICC: '/nonexistent/mpicc' },
    });
    expect(r.status).toBe(0);
    const mpiLines = r.stderr.trim().split('\n').filter((l) => /Open MPI/.test(l));
    expect(mpiLines).toHaveLength(1);
    expect(mpiLines[0]).toMatch(/^gradia-dist: Open MPI addon not built: .*install libopenmpi-dev.*Training on one machine is unchanged/);
    expect(r.stdout.trim()).toBe('');
  });
});
