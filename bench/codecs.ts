// Encodings of a gradient chunk that the benchmark compares with src/comm/codec.ts's
// (and that tests use as an independent encoder): protobufjs encoding the whole message,
// and the same message with a `repeated float` payload instead of `bytes`.
import protobuf from 'protobufjs';
import { chunkType, CorruptChunkError, crc32, type GradientChunk } from '../src/comm/codec.js';

let packedType: protobuf.Type | null = null;
/**
 * GradientChunkPacked: proto/gradients.proto's GradientChunk, field for field (built from
 * it, so the two cannot drift apart), with `repeated float payload = 8 [packed = true]`.
 */
function packed(): protobuf.Type {
  if (packedType) return packedType;
  const t = new protobuf.Type('GradientChunkPacked');
  for (const f of chunkType().fieldsArray) {
    t.add(f.name === 'payload' ? new protobuf.Field('payload', f.id, 'float', 'repeated', undefined, { packed: true }) : new protobuf.Field(f.name, f.id, f.type));
  }
  new protobuf.Root().define('gradia_bench').add(t);
  packedType = t;
  return t;
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
