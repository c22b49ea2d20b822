// `npm run bench -- mpi_allreduce`: all-reduce of ResNet-50's gradient between 2 ranks under
// mpirun, over TCP on loopback, across two network namespaces (veth + bridge), and across
// that link capped by a token bucket (tc tbf) at a few rates. Per link: the raw bandwidth
// baseline (bench/mpi_allreduce_rank.ts) and, for the addon's ring-order all-reduce, Open
// MPI's MPI_Allreduce and the socket ring, the time and achieved / baseline bandwidth.
//
// A ring all-reduce moves 2(N-1)/N of the vector per rank (N = 2: the whole vector, half in
// the reduce-scatter and half in the all-gather), the baseline moves the vector once each
// way at once; so for N = 2, ratio = baseline time / all-reduce time. Goal: >= 0.5.
// Namespaces need root (and iproute2); without, only the loopback row runs.
import path from 'node:path';
import { mpiAvailable } from '../src/comm/mpi.js';
import { repoRoot } from '../src/util/paths.js';
import { capture, createHosts, netnsSupport, parseRate, type NetnsHosts } from '../tests/helpers/netns.js';
import type { RankResult } from './mpi_allreduce_rank.js';

const log = (s: string): void => console.log(s);
const RANK_PROGRAM = path.join(repoRoot, 'dist', 'bench', 'mpi_allreduce_rank.js');

interface Row { link: string; rateBits: number | null; result: RankResult }

async function runPair(argvPrefix: string[], mpirunOptions: string[], addressPrefix: string, reps: number): Promise<RankResult> {
  const argv = [...argvPrefix, 'mpirun', '-np', '2', ...mpirunOptions, process.execPath, RANK_PROGRAM, addressPrefix, String(reps)];
  const r = await capture(argv, { timeoutMs: 600_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (r.code !== 0 || !line) throw new Error(`mpirun exited ${r.code}${r.timedOut ? ' (timed out)' : ''}:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line.slice('RESULT '.length)) as RankResult;
}

const LOOPBACK_TCP = ['--mca', 'pml', 'ob1', '--mca', 'btl', 'tcp,self', '--mca', 'btl_tcp_if_include', 'lo', '--mca', 'oob_tcp_if_include', 'lo'];

function printRow(row: Row): Record<string, unknown> {
  const { bytes, seconds: s } = row.result;
  const base = Math.min(s.baselineWhole, s.baselineChunked);
  const MBps = (t: number): number => bytes / t / 1e6;
  const cell = (t: number): string => `${t.toFixed(2)} s ${(base / t).toFixed(2)}`.padEnd(15);
  const rate = row.rateBits ? `${(row.rateBits / 8 / 1e6).toFixed(1)} MB/s cap` : '';
  log(`${row.link.padEnd(30)} ${rate.padEnd(15)} ${`${MBps(base).toFixed(0)} MB/s`.padEnd(11)} ${cell(s.mpiRing)} ${cell(s.mpiNative)} ${cell(s.socketRing)}`);
  return {
    link: row.link, capBitsPerSecond: row.rateBits, bytes, hosts: row.result.host,
    baselineMBps: MBps(base), baselineWholeSeconds: s.baselineWhole, baselineChunkedSeconds: s.baselineChunked,
    mpiRing: { seconds: s.mpiRing, ratio: base / s.mpiRing },
    mpiNative: { seconds: s.mpiNative, ratio: base / s.mpiNative },
    socketRing: { seconds: s.socketRing, ratio: base / s.socketRing },
  };
}

export async function bench({ quick }: { quick: boolean }): Promise<Record<string, unknown>> {
  const mpi = mpiAvailable();
  if (!mpi.ok) {
    log(`skipped: ${mpi.reason}`);
    return { skipped: mpi.reason };
  }
  const reps = quick ? 1 : 2;
  const rates = quick ? ['1gbit'] : ['2gbit', '1gbit', '300mbit', '100mbit'];
  const rows: Record<string, unknown>[] = [];
  log('2 ranks, ResNet-50 gradient (2 classes), each all-reduce: time and achieved/baseline bandwidth (goal >= 0.50)');
  log(`${'link'.padEnd(30)} ${'tbf'.padEnd(15)} ${'baseline'.padEnd(11)} ${'MPI ring-order'.padEnd(15)} ${'MPI_Allreduce'.padEnd(15)} ${'socket ring'.padEnd(15)}`);
  rows.push(printRow({ link: 'localhost (TCP, loopback)', rateBits: null, result: await runPair([], LOOPBACK_TCP, '127.', reps) }));
  const ns = netnsSupport();
  if (!ns.ok) {
    log(`namespace rows skipped: ${ns.why}`);
    return { rows, namespacesSkipped: ns.why };
  }
  let hosts: NetnsHosts | null = null;
  try {
    hosts = createHosts(2);
    const h = hosts;
    const across = (link: string, rateBits: number | null): Promise<Row> =>
      runPair(h.onHost(0, []), h.mpirunOptions(), '10.213.0.', reps).then((result) => ({ link, rateBits, result }));
    rows.push(printRow(await across('2 namespaces (veth + bridge)', null)));
    for (const rate of rates) {
      h.capLink(0, rate); // each direction: host 1's and host 2's egress
      h.capLink(1, rate);
      rows.push(printRow(await across(`2 namespaces, tbf ${rate}`, parseRate(rate))));
    }
  } finally {
    hosts?.close();
  }
  log('cells: seconds per all-reduce, then achieved / baseline bandwidth (N = 2: baseline time / all-reduce time)');
  return { rows };
}
