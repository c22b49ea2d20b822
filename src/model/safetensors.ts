// safetensors read/write, and model weights in torchvision layouts and keys on disk.
// Format: u64 little-endian header length, JSON header { key: { dtype, shape,
// data_offsets: [begin, end] }, "__metadata__"?: { string: string } }, then the data.
import fs from 'node:fs';
import path from 'node:path';
import { tf } from '../backend/tf.js';
import { GradiaInputError } from '../util/errors.js';
import { FileWriteError, fsReason } from '../util/fs_errors.js';
import { fsyncDir, writeAllSynced } from '../util/synced_write.js';
import { describeNonFinite } from './finite.js';
import { initTensorTorch, tfToTorch, torchToTf } from './resnet.js';
import type { Model } from './types.js';
import { isImputationKey } from './objectives/imputation.js';

export interface StTensor { dtype: string; shape: number[]; data: Float32Array }

const SIZES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function decode(file: string, key: string, dtype: string, buf: Buffer, count: number): Float32Array {
  const out = new Float32Array(count);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  switch (dtype) {
    case 'F32': for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true); break;
    case 'F64': for (let i = 0; i < count; i++) out[i] = dv.getFloat64(i * 8, true); break;
    case 'F16': for (let i = 0; i < count; i++) out[i] = f16(dv.getUint16(i * 2, true)); break;
    case 'BF16': { const tmp = new DataView(new ArrayBuffer(4)); for (let i = 0; i < count; i++) { tmp.setUint32(0, dv.getUint16(i * 2, true) << 16, true); out[i] = tmp.getFloat32(0, true); } break; }
    case 'I64': for (let i = 0; i < count; i++) out[i] = Number(dv.getBigInt64(i * 8, true)); break;
    case 'I32': for (let i = 0; i < count; i++) out[i] = dv.getInt32(i * 4, true); break;
    case 'I16': for (let i = 0; i < count; i++) out[i] = dv.getInt16(i * 2, true); break;
    case 'I8': for (let i = 0; i < count; i++) out[i] = dv.getInt8(i); break;
    case 'U8': case 'BOOL': for (let i = 0; i < count; i++) out[i] = dv.getUint8(i); break;
    default: throw new GradiaInputError(file, `tensor '${key}' has unsupported dtype ${dtype}`);
  }
  return out;
}

/** Reads every tensor of a safetensors file as float32 (torch layout, as stored). */
export function readSafetensors(file: string): Map<string, StTensor> {
  return readSafetensorsFile(file).tensors;
}

interface HeaderEntry { dtype: string; shape: number[]; begin: number; end: number }
export interface StHeader { entries: Map<string, HeaderEntry>; metadata: Record<string, string> }

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Checks a parsed header against the format and the data length: every tensor an object
 * with a known dtype, a list of whole-number dims and whole-number offsets [begin, end]
 * inside the data whose size matches dtype x shape, no two tensors sharing bytes.
 */
function checkHeader(file: string, header: unknown, dataLength: number): StHeader {
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new GradiaInputError(file, `not a safetensors file (header is ${header === null ? 'null' : Array.isArray(header) ? 'a list' : typeof header}, not a JSON object)`);
  }
  const entries = new Map<string, HeaderEntry>();
  let metadata: Record<string, string> = {};
  for (const [key, h] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (h === null || typeof h !== 'object' || Array.isArray(h) || Object.values(h).some((v) => typeof v !== 'string')) {
        throw new GradiaInputError(file, 'safetensors __metadata__ is not an object of strings');
      }
      metadata = h as Record<string, string>;
      continue;
    }
    const bad = (problem: string) => new GradiaInputError(file, `tensor '${key}' ${problem}`);
    if (h === null || typeof h !== 'object' || Array.isArray(h)) throw bad(`has a header entry of ${JSON.stringify(h)}, not an object`);
    const { dtype, shape, data_offsets: offs } = h as Record<string, unknown>;
    if (typeof dtype !== 'string') throw bad(`has no dtype (got ${JSON.stringify(dtype)})`);
    const size = SIZES[dtype];
    if (!size) throw bad(`has unsupported dtype ${dtype}`);
    if (shape === undefined) throw bad('has no shape');
    if (!Array.isArray(shape) || !shape.every(isCount)) throw bad(`has shape ${JSON.stringify(shape)}, not a list of whole numbers >= 0`);
    if (offs === undefined) throw bad('has no data_offsets');
    if (!Array.isArray(offs) || offs.length !== 2) throw bad(`has data_offsets ${JSON.stringify(offs)}, not a list [begin, end]`);
    const [b, e] = offs as unknown[];
    if (!isCount(b) || !isCount(e) || e < b) throw bad(`has data_offsets ${JSON.stringify(offs)}, not whole numbers 0 <= begin <= end`);
    const count = (shape as number[]).reduce((a, c) => a * c, 1);
    if (e - b !== count * size) throw bad(`has data offsets [${b}, ${e}] (${e - b} bytes) that do not match its shape [${(shape as number[]).join(', ')}] ${dtype} (${count * size} bytes)`);
    if (e > dataLength) throw bad(`has data offsets [${b}, ${e}] beyond the end of the data (${dataLength} bytes)`);
    entries.set(key, { dtype, shape: shape as number[], begin: b, end: e });
  }
  // Overlap: sorted by begin, each tensor must start at or after the previous one's end.
  const sorted = [...entries].filter(([, t]) => t.end > t.begin).sort((x, y) => x[1].begin - y[1].begin);
  for (let i = 1; i < sorted.length; i++) {
    const [pk, p] = sorted[i - 1]!;
    const [k, t] = sorted[i]!;
    if (t.begin < p.end) throw new GradiaInputError(file, `tensor '${k}' has data offsets [${t.begin}, ${t.end}] overlapping tensor '${pk}' [${p.begin}, ${p.end}]`);
  }
  return { entries, metadata };
}

function parseHeaderBytes(file: string, bytes: Buffer, dataLength: number): StHeader {
  let header: unknown;
  try { header = JSON.parse(bytes.toString('utf8')); } catch { throw new GradiaInputError(file, 'not a safetensors file (header is not JSON)'); }
  return checkHeader(file, header, dataLength);
}

function headerLength(file: string, first8: Buffer, fileLength: number): number {
  if (fileLength < 8) throw new GradiaInputError(file, 'not a safetensors file (shorter than its 8-byte header length)');
  const hlen = Number(first8.readBigUInt64LE(0));
  if (hlen > fileLength - 8 || hlen > 100_000_000) throw new GradiaInputError(file, `not a safetensors file (header length ${hlen} exceeds the file)`);
  return hlen;
}

/** The header of a safetensors file (checked as readSafetensorsFile does), without reading the data. */
export function readSafetensorsHeader(file: string): StHeader {
  let fd: number;
  try { fd = fs.openSync(file, 'r'); } catch (e) { throw new GradiaInputError(file, `cannot read weights: ${fsReason(e)}`); }
  try {
    const size = fs.fstatSync(fd).size;
    const first8 = Buffer.alloc(8);
    fs.readSync(fd, first8, 0, Math.min(8, size), 0);
    const hlen = headerLength(file, first8, size);
    const bytes = Buffer.alloc(hlen);
    let got = 0;
    while (got < hlen) {
      const n = fs.readSync(fd, bytes, got, hlen - got, 8 + got);
      if (n === 0) break;
      got += n;
    }
    return parseHeaderBytes(file, bytes.subarray(0, got), size - 8 - hlen);
  } finally {
    fs.closeSync(fd);
  }
}

/** The tensors of a safetensors file and its `__metadata__` strings. */
export function readSafetensorsFile(file: string): { tensors: Map<string, StTensor>; metadata: Record<string, string> } {
  let buf: Buffer;
  try { buf = fs.readFileSync(file); } catch (e) { throw new GradiaInputError(file, `cannot read weights: ${fsReason(e)}`); }
  const hlen = headerLength(file, buf, buf.length);
  const data = buf.subarray(8 + hlen);
  const { entries, metadata } = parseHeaderBytes(file, buf.subarray(8, 8 + hlen), data.length);
  const out = new Map<string, StTensor>();
  for (const [key, h] of entries) {
    const count = h.shape.reduce((a, b) => a * b, 1);
    out.set(key, { dtype: h.dtype, shape: h.shape, data: decode(file, key, h.dtype, data.subarray(h.begin, h.end), count) });
  }
  return { tensors: out, metadata };
}

/** Refuses a tensor that holds NaN or Inf, naming the file and the tensor. */
export function assertFinite(file: string, name: string, data: Float32Array): void {
  const bad = describeNonFinite(data);
  if (bad) throw new GradiaInputError(file, `tensor '${name}' holds ${bad}`);
}

/** Writes tensors (F32, or I64 for integer-valued tensors) atomically: temp file, fsync, rename. */
export function writeSafetensors(file: string, tensors: Array<{ name: string; shape: number[]; dtype: 'F32' | 'I64'; data: Float32Array }>, metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    const bytes = t.data.length * (t.dtype === 'I64' ? 8 : 4);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let hjson = JSON.stringify(header);
  while ((8 + Buffer.byteLength(hjson)) % 8 !== 0) hjson += ' ';
  const hbuf = Buffer.from(hjson, 'utf8');
  const out = Buffer.alloc(8 + hbuf.length + off);
  out.writeBigUInt64LE(BigInt(hbuf.length), 0);
  hbuf.copy(out, 8);
  let p = 8 + hbuf.length;
  for (const t of tensors) {
    if (t.dtype === 'I64') {
      for (let i = 0; i < t.data.length; i++, p += 8) out.writeBigInt64LE(BigInt(Math.round(t.data[i])), p);
    } else {
      Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, p);
      p += t.data.byteLength;
    }
  }
  atomicWrite(file, out);
}

/**
 * Writes `data` to `file` so that no partial file is ever visible: temp, fsync, rename, fsync dir.
 * The temp file is `.<name>.tmp-<pid>-<random>` (removeStaleTempFiles knows the pattern);
 * a failure removes it and throws a FileWriteError naming `file`.
 */
export function atomicWrite(file: string, data: Buffer): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    const fd = fs.openSync(tmp, 'w');
    try {
      writeAllSynced(fd, data);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    try { fs.rmSync(tmp, { force: true }); } catch { /* nothing to remove */ }
    throw new FileWriteError(file, e);
  }
  fsyncDir(dir);
}

/** Matches atomicWrite's temp files; group 1 is the writer's pid. */
export const TEMP_FILE_PATTERN = /^\..+\.tmp-(\d+)-[a-z0-9]*$/;

export interface LoadOptions {
  /** Re-initialise fc.* (torchvision init from `seed`) when its class count differs from the model's. */
  reinitFc?: boolean;
  seed?: number;
}

/**
 * Loads torchvision-keyed weights (torch layouts) into the model. Missing, unknown or
 * mis-shaped tensors, and tensors holding NaN or Inf, throw a GradiaInputError naming the key. A missing
 * num_batches_tracked is set to 0, as torch does for old checkpoints.
 */
export function loadWeights(model: Model, file: string, opts: LoadOptions = {}): { fcReinitialised: boolean } {
  const st = readSafetensors(file);
  const known = new Set(model.specs.map((s) => s.name));
  // RES-L's imputation network (imp.*, imp_conv*.*) is training state, not the classifier's
  const unknown = [...st.keys()].filter((k) => !known.has(k) && !isImputationKey(k));
  if (unknown.length) throw new GradiaInputError(file, `unknown tensor '${unknown[0]}'${unknown.length > 1 ? ` (and ${unknown.length - 1} more)` : ''} for ${model.arch}`);
  const fcW = st.get('fc.weight');
  const fcSpec = model.specs.find((s) => s.name === 'fc.weight')!;
  let reinit = false;
  if (fcW && fcW.shape.length === 2 && fcW.shape[0] !== model.numClasses && fcW.shape[1] === fcSpec.torchShape[1]) {
    if (!opts.reinitFc) throw new GradiaInputError(file, `tensor 'fc.weight' has ${fcW.shape[0]} classes, the model has ${model.numClasses} (allow re-initialising fc to load it)`);
    reinit = true;
  }
  const values = new Map<string, Float32Array>();
  for (const s of model.specs) {
    if (reinit && s.name.startsWith('fc.')) { values.set(s.name, initTensorTorch(s, opts.seed ?? 0, fcSpec.torchShape[1])); continue; }
    const t = st.get(s.name);
    if (!t) {
      if (s.kind === 'num_batches_tracked') { values.set(s.name, new Float32Array(1)); continue; }
      throw new GradiaInputError(file, `missing tensor '${s.name}' for ${model.arch}`);
    }
    const same = t.shape.length === s.torchShape.length && t.shape.every((d, i) => d === s.torchShape[i]);
    if (!same) throw new GradiaInputError(file, `tensor '${s.name}' has shape [${t.shape.join(', ')}], ${model.arch} with ${model.numClasses} classes needs [${s.torchShape.join(', ')}]`);
    assertFinite(file, s.name, t.data);
    values.set(s.name, t.data);
  }
  for (const s of model.specs) {
    const v = (s.isBuffer ? model.buffers : model.params).get(s.name)!;
    const t = tf.tensor(torchToTf(s, values.get(s.name)!), s.shape, 'float32');
    v.assign(t);
    t.dispose();
  }
  return { fcReinitialised: reinit };
}

/** The model's state_dict in torch layouts (what saveWeights writes). */
export function stateDictTorch(model: Model): Map<string, { shape: number[]; data: Float32Array; isInt: boolean }> {
  const out = new Map<string, { shape: number[]; data: Float32Array; isInt: boolean }>();
  for (const s of model.specs) {
    const v = (s.isBuffer ? model.buffers : model.params).get(s.name)!;
    out.set(s.name, { shape: s.torchShape, data: tfToTorch(s, Float32Array.from(v.dataSync())), isInt: s.kind === 'num_batches_tracked' });
  }
  return out;
}

/** Saves the model as safetensors with torchvision keys and layouts (atomic). */
export function saveWeights(model: Model, file: string, metadata: Record<string, string> = {}): void {
  const tensors = [...stateDictTorch(model)].map(([name, t]) => ({ name, shape: t.shape, dtype: (t.isInt ? 'I64' : 'F32') as 'F32' | 'I64', data: t.data }));
  writeSafetensors(file, tensors, { format: 'pt', arch: model.arch, ...metadata });
}
