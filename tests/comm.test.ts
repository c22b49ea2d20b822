import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { chunkType, CorruptChunkError, crc32, decodeChunk, encodeChunk } from '../src/comm/codec.js';
import { encodeChunkProtobufjs } from '../bench/codecs.js';
import { Ring, segmentBounds } from '../src/comm/ring.js';
import { referenceAllReduce } from './helpers/ring_oracle.js';
import { PortLink, SocketLink, connectToPeer, listenForPeer, type Link } from '../src/comm/transport.js';

/** Deterministic pseudo-random floats with a wide range of magnitudes (so order matters). */
function randomVector(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (u - 0.5) * 2 ** ((s % 20) - 10);
  }
  return out;
}

const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('codec', () => {
  const payload = randomVector(1001, 1);
  const chunk = { runId: 'run-1', seq: 12, bucket: 3, offset: 4096, phase: 1, round: 2, payload };

  it('round-trips every field bit for bit', () => {
    const d = decodeChunk(encodeChunk(chunk));
    expect({ ...d, payload: null }).toEqual({ ...chunk, payload: null });
    expect(bits(d.payload).equals(bits(payload))).toBe(true);
    // an unaligned view of a larger array encodes only its own values
    const view = randomVector(10, 2).subarray(3, 7);
    expect(Array.from(decodeChunk(encodeChunk({ ...chunk, payload: view })).payload)).toEqual(Array.from(view));
    expect(decodeChunk(encodeChunk({ ...chunk, payload: new Float32Array(0) })).payload.length).toBe(0);
  });

  it('the hand-appended payload is standard protobuf: same message as protobufjs encodes', () => {
    const a = decodeChunk(encodeChunk(chunk));
    const b = decodeChunk(encodeChunkProtobufjs(chunk));
    expect({ ...a, payload: null }).toEqual({ ...b, payload: null });
    expect(bits(a.payload).equals(bits(b.payload))).toBe(true);
    // a long payload needs a multi-byte length varint
    const big = randomVector(40000, 9);
    expect(bits(decodeChunk(encodeChunk({ ...chunk, payload: big })).payload).equals(bits(big))).toBe(true);
  });

  it('keeps the wire field numbers (seq is field 2, once named step)', () => {
    const ids = Object.fromEntries(Object.values(chunkType().fields).map((f) => [f.name, f.id]));
    expect(ids).toEqual({ runId: 1, seq: 2, bucket: 3, offset: 4, phase: 5, round: 6, count: 7, payload: 8, crc32: 9 });
    // seq 12 on the wire: field 2, varint (tag 0x10), value 12, right after run_id.
    const buf = encodeChunk(chunk);
    const afterRunId = 2 + chunk.runId.length;
    expect([buf[afterRunId], buf[afterRunId + 1]]).toEqual([0x10, 12]);
  });

  it('crc32 matches the standard check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('rejects a corrupted payload with a clear error', () => {
    const buf = Buffer.from(encodeChunk(chunk));
    // flip one bit in the middle of the payload (the payload is the bulk of the message)
    buf[buf.length - 2000] ^= 0x10;
    expect(() => decodeChunk(buf)).toThrow(CorruptChunkError);
    expect(() => decodeChunk(buf)).toThrow(/seq 12, bucket 3, offset 4096\): checksum mismatch/);
  });

  it('rejects a truncated or malformed message', () => {
    const buf = encodeChunk(chunk);
    expect(() => decodeChunk(buf.subarray(0, buf.length - 7))).toThrow(CorruptChunkError);
    expect(() => decodeChunk(Uint8Array.from([0xff, 0xff, 0xff]))).toThrow(CorruptChunkError);
  });
});

function portRing(R: number): { next: Link; prev: Link }[] {
  const ch = Array.from({ length: R }, () => new MessageChannel());
  return Array.from({ length: R }, (_, r) => ({
    next: new PortLink(ch[r].port1 as never, `to ${(r + 1) % R}`),
    prev: new PortLink(ch[(r - 1 + R) % R].port2 as never, `from ${(r - 1 + R) % R}`),
  }));
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-comm-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function socketRing(R: number, tag: string): Promise<{ next: Link; prev: Link }[]> {
  const sock = (r: number) => path.join(tmp, `${tag}-${r}.sock`);
  const listens = Array.from({ length: R }, (_, r) => listenForPeer(sock(r)));
  await Promise.all(listens.map((l) => l.ready));
  const nexts = await Promise.all(Array.from({ length: R }, (_, r) => connectToPeer(sock((r + 1) % R))));
  const prevs = await Promise.all(listens.map((l) => l.accepted));
  return Array.from({ length: R }, (_, r) => ({ next: new SocketLink(nexts[r], `to ${(r + 1) % R}`), prev: new SocketLink(prevs[r].socket, `from ${(r - 1 + R) % R}`) }));
}

async function runRing(links: { next: Link; prev: Link }[] | null, inputs: Float32Array[], bucket: number): Promise<Float32Array[]> {
  const R = inputs.length;
  const rings = inputs.map((_, r) => new Ring(r, R, links ? { link: links[r].next, peer: `rank ${(r + 1) % R}` } : null, links ? { link: links[r].prev, peer: `rank ${(r - 1 + R) % R}` } : null, 'test-run', bucket));
  const data = inputs.map((v) => v.slice());
  await Promise.all(rings.map((ring, r) => ring.allReduce(data[r])));
  rings.forEach((ring) => ring.close());
  return data;
}

describe('socket framing', () => {
  // A stand-in socket: the link only listens for data/error/close and writes.
  function fakeSocket(): { socket: net.Socket; written: Buffer[]; emitter: EventEmitter } {
    const emitter = new EventEmitter();
    const written: Buffer[] = [];
    const socket = Object.assign(emitter, {
      setNoDelay: () => socket, cork: () => undefined, uncork: () => undefined, destroy: () => socket,
      write: (b: Uint8Array) => { written.push(Buffer.from(b)); return true; },
    }) as unknown as net.Socket;
    return { socket, written, emitter };
  }

  it('frames arrive whole and in order however the byte stream is split, empty frames included', async () => {
    const frames = [Uint8Array.from([1, 2, 3, 4, 5]), new Uint8Array(0), Uint8Array.from({ length: 300 }, (_, i) => i % 251), Uint8Array.from([9]), new Uint8Array(0)];
    const tx = fakeSocket();
    const sender = new SocketLink(tx.socket, 'tx');
    frames.forEach((f) => sender.send(f));
    const wire = Buffer.concat(tx.written);
    expect(wire.length).toBe(frames.reduce((n, f) => n + 4 + f.length, 0));
    expect(sender.bytesSent).toBe(wire.length);
    for (const step of [1, 2, 3, 7, 64, wire.length]) {
      const rx = fakeSocket();
      const receiver = new SocketLink(rx.socket, 'rx');
      for (let at = 0; at < wire.length; at += step) rx.emitter.emit('data', wire.subarray(at, at + step));
      for (const f of frames) expect(Array.from(await receiver.recv()), `chunks of ${step}`).toEqual(Array.from(f));
    }
  });
});

describe('ring all-reduce', () => {
  it('R=1 is a no-op', async () => {
    const v = randomVector(100, 3);
    const [out] = await runRing(null, [v], 16);
    expect(bits(out).equals(bits(v))).toBe(true);
  });

  for (const transport of ['ports', 'sockets'] as const) {
    for (const R of [2, 3]) {
      it(`R=${R} over ${transport}: equals the fixed-order sum, bitwise identical on all ranks`, async () => {
        // 2 full buckets + a partial one; segment sizes differ inside a bucket
        const n = 2 * 1000 + 337;
        const inputs = Array.from({ length: R }, (_, r) => randomVector(n, 100 + r));
        const links = transport === 'ports' ? portRing(R) : await socketRing(R, `r${R}`);
        const out = await runRing(links, inputs, 1000);
        for (const o of out) expect(bits(o).equals(bits(out[0]))).toBe(true);
        // Independent statement of the order: for R = 2, a + b rounded to float32.
        if (R === 2) {
          const expected = inputs[0].map((a, i) => Math.fround(a + inputs[1][i]));
          expect(bits(out[0]).equals(bits(expected))).toBe(true);
        } else {
          // Segment k of every bucket is ((g_k + g_{k+1}) + g_{k+2}), ranks mod 3.
          const f = Math.fround;
          const expected = new Float32Array(n);
          for (let base = 0; base < n; base += 1000) {
            const len = Math.min(1000, n - base);
            for (let k = 0; k < 3; k++) {
              const [a, b] = segmentBounds(len, 3, k);
              for (let i = base + a; i < base + b; i++) expected[i] = f(f(inputs[k][i] + inputs[(k + 1) % 3][i]) + inputs[(k + 2) % 3][i]);
            }
          }
          expect(bits(out[0]).equals(bits(expected))).toBe(true);
          expect(bits(referenceAllReduce(inputs, 1000)).equals(bits(expected))).toBe(true);
          // and it is the sum (to float32 rounding)
          for (let i = 0; i < n; i += 97) {
            const exact = inputs[0][i] + inputs[1][i] + inputs[2][i];
            expect(Math.abs(out[0][i] - exact)).toBeLessThanOrEqual(Math.abs(exact) * 1e-6 + 1e-30 + 2 ** -20);
          }
        }
      });
    }
  }

  it('repeated collectives stay in step, and vectors shorter than the world work', async () => {
    const links = portRing(3);
    const rings = [0, 1, 2].map((r) => new Ring(r, 3, { link: links[r].next, peer: 'n' }, { link: links[r].prev, peer: 'p' }, 'x', 4));
    for (const n of [1, 2, 5, 9]) {
      const inputs = [0, 1, 2].map((r) => randomVector(n, n * 10 + r));
      const data = inputs.map((v) => v.slice());
      await Promise.all(rings.map((ring, r) => ring.allReduce(data[r])));
      const ref = referenceAllReduce(inputs, 4);
      for (const d of data) expect(bits(d).equals(bits(ref))).toBe(true);
    }
    rings.forEach((r) => r.close());
  });

  it('a corrupted chunk on the wire fails the all-reduce with a checksum error', async () => {
    const links = portRing(2);
    // rank 1's outgoing link corrupts one payload byte
    const orig = links[1].next;
    links[1].next = {
      get bytesSent() { return orig.bytesSent; },
      send(frame: Uint8Array) { const f = Uint8Array.from(frame); f[f.length - 10] ^= 1; orig.send(f); },
      recv: () => orig.recv(),
      close: () => orig.close(),
    };
    const inputs = [randomVector(64, 1), randomVector(64, 2)];
    const rings = [0, 1].map((r) => new Ring(r, 2, { link: links[r].next, peer: `rank ${1 - r}` }, { link: links[r].prev, peer: `rank ${1 - r}` }, 'x', 64));
    const p = rings.map((ring, r) => ring.allReduce(inputs[r]));
    p[1].catch(() => undefined); // rank 1 then waits for rank 0, which has given up
    await expect(p[0]).rejects.toThrow(/checksum mismatch/);
    rings.forEach((r) => r.close());
    await expect(p[1]).rejects.toThrow(/closed/);
  });

  it('a chunk from another run is rejected', async () => {
    const links = portRing(2);
    const a = new Ring(0, 2, { link: links[0].next, peer: 'rank 1' }, { link: links[0].prev, peer: 'rank 1' }, 'run-A', 8);
    const b = new Ring(1, 2, { link: links[1].next, peer: 'rank 0' }, { link: links[1].prev, peer: 'rank 0' }, 'run-B', 8);
    const pa = a.allReduce(randomVector(8, 1));
    const pb = b.allReduce(randomVector(8, 2));
    pb.catch(() => undefined);
    await expect(pa).rejects.toThrow(/unexpected chunk from rank 1 \(run run-B/);
    await expect(pb).rejects.toThrow(/unexpected chunk from rank 0 \(run run-A/);
    a.close();
    b.close();
  });

  it('a peer that closes its socket fails the waiting rank with a named error', async () => {
    const links = await socketRing(2, 'close');
    const ring0 = new Ring(0, 2, { link: links[0].next, peer: 'worker 1' }, { link: links[0].prev, peer: 'worker 1' }, 'x', 8);
    const p = ring0.allReduce(randomVector(8, 1));
    links[1].next.close();
    links[1].prev.close();
    await expect(p).rejects.toThrow(/all-reduce on rank 0: receiving from worker 1 failed/);
    ring0.close();
  });
});
