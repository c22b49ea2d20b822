// One rank of the MPI all-reduce benchmark (bench/mpi_allreduce.ts starts two under mpirun).
// On the same link and the same bytes (ResNet-50's gradient, 2 classes as GRADIA trains it):
//   baseline  MPI_Isend/Irecv of the same bytes with the other rank (both directions at once),
//             as one message and as 4 MiB messages one after another; the faster is the link's
//             measured bandwidth
//   mpi-ring  the addon's ring-order all-reduce (what training uses: the ring's buckets and sums)
//   mpi-native Open MPI's own MPI_Allreduce
//   socket-ring src/comm/ring.ts over a TCP SocketLink between the two ranks' addresses
// Rank 0 prints one line `RESULT {json}` with every rank's slowest time per method.
import net from 'node:net';
import os from 'node:os';
import { Mpi } from '../src/comm/mpi.js';
import { DEFAULT_BUCKET_SIZE, Ring } from '../src/comm/ring.js';
import { SocketLink } from '../src/comm/transport.js';
import { tensorSpecs } from '../src/model/resnet.js';

export interface RankResult {
  floats: number;
  bytes: number;
  reps: number;
  host: string[];
  /** seconds per operation, the slowest rank's, mean over reps */
  seconds: { baselineWhole: number; baselineChunked: number; mpiRing: number; mpiNative: number; socketRing: number };
}

/** ResNet-50's gradient length (its parameters; fc for 2 classes, as GRADIA trains it). */
function resnet50GradientFloats(numClasses = 2): number {
  let n = 0;
  for (const s of tensorSpecs('resnet50', numClasses)) if (!s.isBuffer) n += s.shape.reduce((a, b) => a * b, 1);
  return n;
}

/** This rank's IPv4 address whose text starts with `prefix` (127.0.0.1 for "127."). */
function localAddress(prefix: string): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && a.address.startsWith(prefix)) return a.address;
  }
  throw new Error(`no local IPv4 address starting with ${prefix}`);
}

/** A TCP link between rank 0 (listens) and rank 1 (connects), addresses swapped by allgather. */
async function tcpLink(mpi: Mpi, prefix: string): Promise<SocketLink> {
  const me = localAddress(prefix);
  let server: net.Server | null = null;
  let accepted: Promise<net.Socket> | null = null;
  let port = 0;
  if (mpi.rank === 0) {
    server = net.createServer();
    accepted = new Promise((resolve) => server!.once('connection', resolve));
    await new Promise<void>((resolve) => server!.listen(0, me, resolve));
    port = (server.address() as net.AddressInfo).port;
  }
  const where = await mpi.allgatherJson({ address: me, port });
  let socket: net.Socket;
  if (mpi.rank === 0) {
    socket = await accepted!;
    server!.close();
  } else {
    socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(where[0]!.port, where[0]!.address, () => resolve(s));
      s.once('error', reject);
    });
  }
  return new SocketLink(socket, `rank ${mpi.rank} <-> rank ${1 - mpi.rank}`);
}

/** message size of the chunked baseline (floats): the ring's bucket */
const CHUNK = DEFAULT_BUCKET_SIZE;

async function main(): Promise<void> {
  const prefix = process.argv[2] ?? '127.';
  const reps = Number(process.argv[3] ?? '1');
  const mpi = await Mpi.init();
  if (mpi.size !== 2) throw new Error(`run with 2 ranks (got ${mpi.size})`);
  const n = resnet50GradientFloats();
  const peer = 1 - mpi.rank;
  const mine = new Float32Array(n);
  const theirs = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    mine[i] = ((i * (mpi.rank + 3)) % 1000) / 1024;
    theirs[i] = ((i * (peer + 3)) % 1000) / 1024;
  }
  // the sum every method must produce (2 ranks: a + b, one rounding, the same in any order)
  const expected = new Float32Array(n);
  for (let i = 0; i < n; i++) expected[i] = mine[i]! + theirs[i]!;
  const link = await tcpLink(mpi, prefix);
  const ring = new Ring(mpi.rank, 2, { link, peer: `rank ${peer}` }, { link, peer: `rank ${peer}` }, 'bench');
  const recvBuf = new Float32Array(n);

  const methods: Record<keyof RankResult['seconds'], (v: Float32Array) => Promise<{ seconds: number }>> = {
    baselineWhole: (v) => mpi.sendrecv(v, recvBuf, peer),
    baselineChunked: async (v) => {
      const t0 = performance.now();
      for (let at = 0; at < n; at += CHUNK) await mpi.sendrecv(v.subarray(at, at + CHUNK), recvBuf.subarray(at, at + CHUNK), peer);
      return { seconds: (performance.now() - t0) / 1000 };
    },
    mpiRing: (v) => mpi.allreduceSum(v),
    mpiNative: (v) => mpi.allreduceNative(v),
    socketRing: (v) => ring.allReduce(v),
  };
  const seconds = { baselineWhole: 0, baselineChunked: 0, mpiRing: 0, mpiNative: 0, socketRing: 0 };
  const work = new Float32Array(n);
  for (const [name, op] of Object.entries(methods) as [keyof typeof seconds, (v: Float32Array) => Promise<{ seconds: number }>][]) {
    // warm-up on a small vector: connections, buffers, code paths (a full-size one would
    // cost as long as a rep on a slow link)
    await op(mine.slice(0, 1 << 16));
    for (let r = 0; r < reps; r++) {
      work.set(mine);
      await mpi.barrier();
      const s = (await op(work)).seconds;
      const all = await mpi.allgatherJson(s);
      seconds[name] += Math.max(...all) / reps;
      const baseline = name.startsWith('baseline');
      const got = baseline ? recvBuf : work;
      const want = baseline ? theirs : expected;
      for (let i = 0; i < n; i++) {
        if (got[i] !== want[i]) throw new Error(`${name} on rank ${mpi.rank}: element ${i} is ${got[i]}, expected ${want[i]}`);
      }
    }
  }
  const hosts = await mpi.allgatherJson(mpi.host);
  ring.close();
  if (mpi.rank === 0) {
    const out: RankResult = { floats: n, bytes: n * 4, reps, host: hosts, seconds };
    console.log(`RESULT ${JSON.stringify(out)}`);
  }
  await mpi.finalize();
}

// Only when run as the rank program.
if (process.argv[1]?.endsWith('mpi_allreduce_rank.js')) await main();
