// Encodings of a gradient chunk that the benchmark compares with src/comm/codec.ts's
// (and that tests use as an independent encoder): protobufjs encoding the whole message,
// and the `repeated float` payload of bench/gradients_packed.proto.
import path from 'node:path';
import protobuf from 'protobufjs';
import { chunkType, CorruptChunkError, crc32, type GradientChunk } from '../src/comm/codec.js';
import { repoRoot } from '../src/util/paths.js';

const PACKED_PROTO = path.join(repoRoot, 'bench', 'gradients_packed.proto');
let packedType: protobuf.Type | null = null;
function packed(): protobuf.Type {
  packedType ??= protobuf.loadSync(PACKED_PROTO).lookupType('gradia_bench.GradientChunkPacked');
  return packedType;
}

const bytesOf = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The GradientChunk message encoded entirely by protobufjs (the payload copied by it). */
export function encodeChunkProtobufjs(c: GradientChunk): Uint8Array {
  const payload = bytesOf(c.payload);
  return chunkType()
    .encode({ runId: c.runId, seq: c.seq, bucket: c.bucket, offset: c.offset, phase: c.phase, round: c.round, count: c.payload.length, payload, crc32: crc32(payload) })
    .finish();
}

/** The `repeated float` encoding of the same chunk. */
export function encodeChunkPacked(c: GradientChunk): Uint8Array {
  return packed()
    .encode({
      runId: c.runId, seq: c.seq, bucket: c.bucket, offset: c.offset, phase: c.phase, round: c.round,
      count: c.payload.length, payload: Array.from(c.payload), crc32: crc32(bytesOf(c.payload)),
    })
    .finish();
}

export function decodeChunkPacked(buf: Uint8Array): GradientChunk {
  const m = packed().decode(buf) as unknown as { runId: string; seq: number; bucket: number; offset: number; phase: number; round: number; payload: number[]; crc32: number };
  const out = Float32Array.from(m.payload ?? []);
  if (crc32(bytesOf(out)) !== (m.crc32 ?? 0) >>> 0) throw new CorruptChunkError('gradient chunk: checksum mismatch');
  return { runId: m.runId, seq: m.seq, bucket: m.bucket, offset: m.offset, phase: m.phase, round: m.round, payload: out };
}
