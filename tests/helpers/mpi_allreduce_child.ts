// One rank of tests/mpi_allreduce.test.ts (run under mpirun from dist/tests/helpers/): sums
// inputFor(rank) with the addon's ring-order all-reduce and Open MPI's own, gathers every
// rank's results, and rank 0 prints them as one JSON line.
import { Mpi } from '../../src/comm/mpi.js';

/** Deterministic float32 inputs of mixed magnitudes (so that summation order shows in the bits). */
export function inputFor(rank: number, n: number): Float32Array {
  const out = new Float32Array(n);
  let s = (rank + 1) * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const mant = (s >>> 8) / (1 << 24) - 0.5;
    out[i] = mant * 10 ** ((s % 7) - 3);
  }
  return out;
}

const b64 = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

if (process.env.OMPI_COMM_WORLD_RANK !== undefined) {
  const n = Number(process.env.ALLREDUCE_N ?? '50');
  const bucket = Number(process.env.ALLREDUCE_BUCKET ?? '7');
  const mpi = await Mpi.init();
  const ring = inputFor(mpi.rank, n);
  const stats = await mpi.allreduceSum(ring, bucket);
  const native = inputFor(mpi.rank, n);
  await mpi.allreduceNative(native);
  // Variable-length allgather: rank r sends r + 1 bytes of value r.
  const gathered = await mpi.allgather(new Uint8Array(mpi.rank + 1).fill(mpi.rank));
  const all = await mpi.allgatherJson({ ring: b64(ring), native: b64(native), bytesSent: stats.bytesSent });
  if (mpi.rank === 0) {
    process.stdout.write(`${JSON.stringify({ size: mpi.size, ranks: all, gathered: gathered.map((g) => Array.from(g)), arrivals: mpi.arrivals() })}\n`);
  }
  await mpi.finalize();
}
