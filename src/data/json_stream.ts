/**
 * A small, strict, streaming reader for the GRADIA attention files: a JSON list of
 * `{"img": "...", "attention": [[n, ...], ...]}`. The file is read in 1 MiB chunks and
 * every map goes straight into a Uint8Array, so a file of thousands of 224x224 maps
 * (hundreds of MB of text) never exists as a string or as nested JS arrays.
 * Any other JSON value is parsed (or skipped) generically.
 */
import fs from 'node:fs';
import { GradiaInputError } from '../util/errors.js';

const CHUNK = 1 << 20;

export class ByteReader {
  private fd: number;
  private buf: Buffer;
  private len = 0;
  private pos = 0;
  private base = 0; // file offset of buf[0]
  private eof = false;

  constructor(readonly file: string) {
    try {
      this.fd = fs.openSync(file, 'r');
    } catch (e) {
      throw new GradiaInputError(file, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    this.buf = Buffer.allocUnsafe(CHUNK);
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  get offset(): number {
    return this.base + this.pos;
  }

  private fill(): boolean {
    if (this.eof) return false;
    // keep nothing: callers consume byte by byte; tokens that span chunks are built incrementally
    this.base += this.len;
    try {
      this.len = fs.readSync(this.fd, this.buf, 0, CHUNK, null);
    } catch (e) {
      throw new GradiaInputError(this.file, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    this.pos = 0;
    if (this.len === 0) {
      this.eof = true;
      return false;
    }
    return true;
  }

  /** Next byte without consuming it; -1 at end of file. */
  peek(): number {
    if (this.pos >= this.len && !this.fill()) return -1;
    return this.buf[this.pos];
  }

  next(): number {
    if (this.pos >= this.len && !this.fill()) return -1;
    return this.buf[this.pos++];
  }

  /** Skip JSON whitespace and return the next byte (not consumed). */
  peekNonWs(): number {
    for (;;) {
      const c = this.peek();
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.pos++;
      else if (c === 0xef && this.offset === 0) {
        // UTF-8 byte order mark at the start
        this.pos++;
        if (this.next() !== 0xbb || this.next() !== 0xbf) this.fail('invalid byte at start of file');
      } else return c;
    }
  }

  fail(what: string): never {
    throw new GradiaInputError(this.file, `not valid JSON at byte ${this.offset}: ${what}`);
  }

  expect(ch: number): void {
    const c = this.peekNonWs();
    if (c !== ch) this.fail(`expected '${String.fromCharCode(ch)}', found ${describe(c)}`);
    this.pos++;
  }
}

function describe(c: number): string {
  return c < 0 ? 'end of file' : `'${String.fromCharCode(c)}'`;
}

/** Read a JSON string (the reader is at its opening quote). */
export function readString(r: ByteReader): string {
  r.expect(0x22);
  const bytes: number[] = [];
  let escaped = false;
  for (;;) {
    const c = r.next();
    if (c < 0) r.fail('unterminated string');
    if (escaped) {
      escaped = false;
      bytes.push(c);
      continue;
    }
    if (c === 0x5c) {
      escaped = true;
      bytes.push(c);
      continue;
    }
    if (c === 0x22) break;
    if (c < 0x20) r.fail('control character in string');
    bytes.push(c);
  }
  const raw = Buffer.from(bytes).toString('utf8');
  if (!escaped && raw.indexOf('\\') < 0) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return r.fail('bad escape in string');
  }
}

const NUM_CHARS = new Uint8Array(256);
for (const ch of '0123456789+-.eE') NUM_CHARS[ch.charCodeAt(0)] = 1;

/** Read a JSON number token as text (reader at its first character). */
function readNumberText(r: ByteReader, prefix = ''): string {
  let s = prefix;
  for (;;) {
    const c = r.peek();
    if (c < 0 || !NUM_CHARS[c]) break;
    s += String.fromCharCode(c);
    r.next();
  }
  return s;
}

const NUMBER_RE = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/** Read a literal word (true/false/null). */
function readWord(r: ByteReader): string {
  let s = '';
  for (;;) {
    const c = r.peek();
    if (c < 0x61 || c > 0x7a) break;
    s += String.fromCharCode(c);
    r.next();
  }
  return s;
}

/**
 * Deepest nesting `readValue` accepts. The GRADIA files nest 4 deep (list, entry, map,
 * row); this bound keeps the recursion far inside Node's stack, so a hostile file gets a
 * line naming it instead of "Maximum call stack size exceeded".
 */
export const MAX_JSON_DEPTH = 256;

/** Parse any JSON value generically (used for small values and for skipping). */
export function readValue(r: ByteReader, depth = 0): unknown {
  const c = r.peekNonWs();
  if ((c === 0x7b || c === 0x5b) && depth >= MAX_JSON_DEPTH) {
    throw new GradiaInputError(r.file, `JSON nested more than ${MAX_JSON_DEPTH} levels deep at byte ${r.offset} (a label file nests at most 4)`);
  }
  if (c === 0x22) return readString(r);
  if (c === 0x7b) {
    r.expect(0x7b);
    const o: Record<string, unknown> = {};
    if (r.peekNonWs() === 0x7d) {
      r.next();
      return o;
    }
    for (;;) {
      const k = readString(r);
      r.expect(0x3a);
      o[k] = readValue(r, depth + 1);
      const d = r.peekNonWs();
      r.next();
      if (d === 0x7d) return o;
      if (d !== 0x2c) r.fail(`expected ',' or '}', found ${describe(d)}`);
      r.peekNonWs();
    }
  }
  if (c === 0x5b) {
    r.expect(0x5b);
    const a: unknown[] = [];
    if (r.peekNonWs() === 0x5d) {
      r.next();
      return a;
    }
    for (;;) {
      a.push(readValue(r, depth + 1));
      const d = r.peekNonWs();
      r.next();
      if (d === 0x5d) return a;
      if (d !== 0x2c) r.fail(`expected ',' or ']', found ${describe(d)}`);
    }
  }
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
    const t = readNumberText(r);
    if (!NUMBER_RE.test(t)) r.fail(`bad number '${t}'`);
    return Number(t);
  }
  if (c >= 0x61 && c <= 0x7a) {
    const w = readWord(r);
    if (w === 'true') return true;
    if (w === 'false') return false;
    if (w === 'null') return null;
    r.fail(`unexpected word '${w}'`);
  }
  return r.fail(`unexpected ${describe(c)}`);
}

/** Non-fatal shape problem inside a map; the caller attaches the entry's name. */
export class MapShapeError extends Error {}

/** A map value in (0, 1] as stored: round(v * 255), any positive value at least 1. */
export function quantise(v: number): number {
  return v >= 1 ? 255 : Math.max(1, Math.round(v * 255));
}

/**
 * Read a 2-D numeric array `[[...], ...]` into a quantised Uint8Array (value v in [0, 1]
 * stored as round(v * 255), any positive value at least 1). A negative value v in [-1, 0)
 * is a "do not look here" label: 0 in `data` and round(-v * 255) (at least 1) in
 * `negative`, which exists only when some value is negative. Throws MapShapeError for a
 * value that is not a number or is out of range, ragged rows, or a non-2-D value; the
 * JSON itself must be valid or the reader fails.
 */
export function readMap(r: ByteReader): { h: number; w: number; data: Uint8Array; negative?: Uint8Array } {
  if (r.peekNonWs() !== 0x5b) {
    const v = readValue(r);
    throw new MapShapeError(`attention is ${Array.isArray(v) ? 'an array' : typeof v === 'object' ? (v === null ? 'null' : 'an object') : `a ${typeof v}`}, expected a 2-D list of numbers`);
  }
  r.next();
  let data = new Uint8Array(224 * 224);
  let negative: Uint8Array | null = null; // allocated at the first negative value
  let n = 0;
  let w = -1;
  let h = 0;
  let problem: string | null = null;
  const note = (p: string): void => {
    if (problem === null) problem = p;
  };
  if (r.peekNonWs() === 0x5d) {
    r.next();
    throw new MapShapeError('attention map is empty');
  }
  for (;;) {
    // one row
    if (r.peekNonWs() !== 0x5b) {
      readValue(r);
      note(`attention row ${h} is not a list (the map must be 2-D)`);
    } else {
      r.next();
      let cols = 0;
      if (r.peekNonWs() === 0x5d) r.next();
      else {
        for (;;) {
          const c = r.peekNonWs();
          if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
            let v: number;
            let t: string;
            r.next();
            const d = r.peek();
            if ((c === 0x30 || c === 0x31) && (d < 0 || !NUM_CHARS[d])) {
              // fast path for the 0/1 maps of the real files: no string is built
              v = c - 0x30;
              t = v === 0 ? '0' : '1';
            } else {
              t = readNumberText(r, String.fromCharCode(c));
              if (!NUMBER_RE.test(t)) r.fail(`bad number '${t}'`);
              v = Number(t);
            }
            if (!(v >= -1 && v <= 1)) note(`attention[${h}][${cols}] = ${t} is outside [-1, 1] (1: look here, -1: do not look here)`);
            if (n >= data.length) {
              const bigger = new Uint8Array(data.length * 2);
              bigger.set(data);
              data = bigger;
            }
            if (v < 0) {
              if (negative === null) negative = new Uint8Array(data.length);
              else if (negative.length < data.length) {
                const bigger = new Uint8Array(data.length);
                bigger.set(negative);
                negative = bigger;
              }
              negative[n] = quantise(-v);
            }
            data[n++] = v <= 0 ? 0 : quantise(v);
          } else {
            const v = readValue(r);
            note(`attention[${h}][${cols}] is ${Array.isArray(v) ? 'a list (the map must be 2-D)' : JSON.stringify(v)}, not a number`);
            n++;
            if (n > data.length) {
              const bigger = new Uint8Array(data.length * 2);
              bigger.set(data);
              data = bigger;
            }
          }
          cols++;
          const d = r.peekNonWs();
          r.next();
          if (d === 0x5d) break;
          if (d !== 0x2c) r.fail(`expected ',' or ']', found ${describe(d)}`);
        }
      }
      if (w < 0) w = cols;
      else if (cols !== w) note(`attention row ${h} has ${cols} values, row 0 has ${w} (the map must be rectangular)`);
    }
    h++;
    const d = r.peekNonWs();
    r.next();
    if (d === 0x5d) break;
    if (d !== 0x2c) r.fail(`expected ',' or ']', found ${describe(d)}`);
  }
  if (problem !== null) throw new MapShapeError(problem);
  if (w === 0) throw new MapShapeError('attention map has empty rows');
  const out: { h: number; w: number; data: Uint8Array; negative?: Uint8Array } = { h, w, data: n === data.length ? data : data.slice(0, n) };
  if (negative !== null) {
    // the negative plane was sized for `data` when it was allocated; bring it to n values
    const neg = new Uint8Array(n);
    neg.set(negative.subarray(0, Math.min(n, negative.length)));
    out.negative = neg;
  }
  return out;
}
