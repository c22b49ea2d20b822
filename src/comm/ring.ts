// Ring all-reduce (reduce-scatter, then all-gather) over fixed-size buckets.
//
// Summation order (fixed, so results are reproducible and identical on every rank):
// the flat vector is cut into buckets of `bucketSize` floats; bucket b (length L) is cut
// into R segments, segment k = [floor(k L / R), floor((k+1) L / R)). Segment k is summed
// starting at rank k and going round the ring: ((g_k + g_{k+1}) + g_{k+2}) + ... (ranks
// mod R). The all-gather then copies the finished sums, so every rank ends with the same
// bits. For R = 2 that is simply g_0 + g_1 everywhere. R = 1 is a no-op.
import { decodeChunk, encodeChunk } from './codec.js';
import type { NamedLink } from './transport.js';

export const DEFAULT_BUCKET_SIZE = 1 << 20; // floats per bucket (4 MiB)

export interface AllReduceStats {
  /** Encoded bytes this rank sent. */
  bytesSent: number;
  /** Wall time of the collective on this rank, waitSeconds included. */
  seconds: number;
  /** Time spent waiting for the previous rank's first chunk (its compute still running). */
  waitSeconds: number;
  messages: number;
}

export function segmentBounds(len: number, world: number, k: number): [number, number] {
  return [Math.floor((k * len) / world), Math.floor(((k + 1) * len) / world)];
}

/** What a replica needs of its all-reduce: the ring here, or MPI (src/comm/mpi.ts). */
export interface AllReducer {
  allReduce(data: Float32Array): Promise<AllReduceStats>;
  close(): void;
}

const mod = (a: number, m: number): number => ((a % m) + m) % m;

export class Ring implements AllReducer {
  private seq = 0;

  constructor(
    readonly rank: number,
    readonly world: number,
    private readonly next: NamedLink | null,
    private readonly prev: NamedLink | null,
    readonly runId: string,
    readonly bucketSize: number = DEFAULT_BUCKET_SIZE,
  ) {
    if (world > 1 && (!next || !prev)) throw new Error(`ring rank ${rank}/${world}: missing links`);
    if (!(bucketSize >= 1)) throw new Error(`ring: bucket size must be >= 1 (got ${bucketSize})`);
  }

  /**
   * Sums `data` over all ranks, in place. Every rank must call this with vectors of the
   * same length, in the same order of collectives (the sequence number is checked).
   */
  async allReduce(data: Float32Array): Promise<AllReduceStats> {
    const t0 = performance.now();
    const seq = this.seq++;
    const R = this.world;
    if (R === 1) return { bytesSent: 0, seconds: (performance.now() - t0) / 1000, waitSeconds: 0, messages: 0 };
    const next = this.next!;
    const prev = this.prev!;
    const r = this.rank;
    let bytesSent = 0;
    let messages = 0;
    let waitSeconds = -1;
    const send = (bucket: number, base: number, seg: number, len: number, phase: number, round: number): void => {
      const [a, b] = segmentBounds(len, R, seg);
      const frame = encodeChunk({ runId: this.runId, seq, bucket, offset: base + a, phase, round, payload: data.subarray(base + a, base + b) });
      bytesSent += frame.byteLength; // before send: a transferred frame is detached
      next.link.send(frame, true);
      messages++;
    };
    const recv = async (bucket: number, base: number, seg: number, len: number, phase: number, round: number): Promise<Float32Array> => {
      let frame: Uint8Array;
      try {
        if (messages === 1 && waitSeconds < 0) {
          const w0 = performance.now();
          frame = await prev.link.recv();
          waitSeconds = (performance.now() - w0) / 1000;
        } else {
          frame = await prev.link.recv();
        }
      } catch (e) {
        throw new Error(`all-reduce on rank ${r}: receiving from ${prev.peer} failed: ${(e as Error).message}`);
      }
      const c = decodeChunk(frame);
      const [a, b] = segmentBounds(len, R, seg);
      if (c.runId !== this.runId || c.seq !== seq || c.bucket !== bucket || c.phase !== phase || c.round !== round || c.offset !== base + a || c.payload.length !== b - a) {
        throw new Error(
          `all-reduce on rank ${r}: unexpected chunk from ${prev.peer} (run ${c.runId} seq ${c.seq} bucket ${c.bucket} phase ${c.phase} round ${c.round} offset ${c.offset} n ${c.payload.length}; ` +
            `expected run ${this.runId} seq ${seq} bucket ${bucket} phase ${phase} round ${round} offset ${base + a} n ${b - a})`,
        );
      }
      return c.payload;
    };

    const nBuckets = Math.ceil(data.length / this.bucketSize);
    for (let bucket = 0; bucket < nBuckets; bucket++) {
      const base = bucket * this.bucketSize;
      const len = Math.min(this.bucketSize, data.length - base);
      // Reduce-scatter: in round s, send segment (r - s), receive (r - s - 1) and add own.
      for (let s = 0; s < R - 1; s++) {
        send(bucket, base, mod(r - s, R), len, 0, s);
        const seg = mod(r - s - 1, R);
        const got = await recv(bucket, base, seg, len, 0, s);
        const [a] = segmentBounds(len, R, seg);
        const off = base + a;
        for (let i = 0; i < got.length; i++) data[off + i] = got[i] + data[off + i];
      }
      // All-gather: rank r now owns the finished segment (r + 1); pass finished ones on.
      for (let s = 0; s < R - 1; s++) {
        send(bucket, base, mod(r + 1 - s, R), len, 1, s);
        const seg = mod(r - s, R);
        const got = await recv(bucket, base, seg, len, 1, s);
        const [a] = segmentBounds(len, R, seg);
        data.set(got, base + a);
      }
    }
    return { bytesSent, seconds: (performance.now() - t0) / 1000, waitSeconds: Math.max(0, waitSeconds), messages };
  }

  close(): void {
    this.next?.link.close();
    this.prev?.link.close();
  }
}
