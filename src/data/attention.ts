/**
 * Human attention labels: the original's four JSON files and the training targets made
 * from them (OpenCV INTER_AREA resize + 3x3 GaussianBlur + divide by max).
 */
import fs from 'node:fs';
import path from 'node:path';
import { GradiaInputError } from '../util/errors.js';
import { ByteReader, MapShapeError, readMap, readString, readValue } from './json_stream.js';
import type { AttentionMap } from './attention_target.js';
// The training target (resize + blur) is pure code the review page also runs: see attention_target.ts.
export { attentionTarget, gaussianBlur3U8, resizeAreaU8 } from './attention_target.js';

/** A human map at its own size; values are the JSON values x 255 (0 or 255 for 0/1 maps). */
export type { AttentionMap } from './attention_target.js';

export const ATTENTION_FILES = {
  val: 'attention_val.json',
  valUpdate: 'attention_val_update.json',
  valRemove: 'attention_val_remove.json',
  test: 'attention_test.json',
} as const;

/** Key of an `img` entry: its base name (either path separator), as os.path.split does. */
export function keyOf(img: string): string {
  const i = Math.max(img.lastIndexOf('/'), img.lastIndexOf('\\'));
  return i >= 0 ? img.slice(i + 1) : img;
}

/**
 * Read one attention file: a JSON list of {img, attention}. Later entries with the same
 * file name replace earlier ones (dict semantics, as the original). With
 * `mapsRequired: false` (the remove file) entries may be bare strings or objects with only
 * `img`, and maps are not read.
 */
export function readAttentionFile(file: string, opts: { mapsRequired?: boolean } = {}): Map<string, AttentionMap | null> {
  const mapsRequired = opts.mapsRequired ?? true;
  const r = new ByteReader(file);
  const out = new Map<string, AttentionMap | null>();
  try {
    const first = r.peekNonWs();
    if (first < 0) r.fail('the file is empty');
    if (first !== 0x5b) {
      readValue(r);
      throw new GradiaInputError(file, 'expected a JSON list of {"img", "attention"} entries');
    }
    r.next();
    if (r.peekNonWs() === 0x5d) r.next();
    else {
      for (let idx = 0; ; idx++) {
        const c = r.peekNonWs();
        if (!mapsRequired && c === 0x22) {
          const img = readString(r);
          out.set(keyOf(img), null);
        } else if (c !== 0x7b) {
          const v = readValue(r);
          throw new GradiaInputError(file, `entry ${idx} is ${JSON.stringify(v)?.slice(0, 40)}, expected an object {"img", "attention"}`);
        } else {
          r.next();
          let img: string | null = null;
          let map: AttentionMap | null = null;
          let mapProblem: string | null = null;
          if (r.peekNonWs() === 0x7d) r.next();
          else {
            for (;;) {
              const k = readString(r);
              r.expect(0x3a);
              if (k === 'img') {
                const v = r.peekNonWs() === 0x22 ? readString(r) : readValue(r);
                if (typeof v !== 'string') throw new GradiaInputError(file, `entry ${idx}: "img" is ${JSON.stringify(v)}, expected a file name`);
                img = v;
              } else if (k === 'attention' && mapsRequired) {
                try {
                  map = readMap(r);
                } catch (e) {
                  if (!(e instanceof MapShapeError)) throw e;
                  mapProblem = e.message;
                }
              } else readValue(r);
              const d = r.peekNonWs();
              r.next();
              if (d === 0x7d) break;
              if (d !== 0x2c) r.fail(`expected ',' or '}', found ${d < 0 ? 'end of file' : `'${String.fromCharCode(d)}'`}`);
            }
          }
          const name = img === null ? `entry ${idx}` : `entry ${idx} (${img})`;
          if (img === null) throw new GradiaInputError(file, `${name} has no "img"`);
          if (keyOf(img) === '') throw new GradiaInputError(file, `${name}: "img" names no file`);
          if (mapProblem !== null) throw new GradiaInputError(file, `${name}: ${mapProblem}`);
          if (mapsRequired && map === null) throw new GradiaInputError(file, `${name} has no "attention" map`);
          out.set(keyOf(img), map);
        }
        const d = r.peekNonWs();
        r.next();
        if (d === 0x5d) break;
        if (d !== 0x2c) r.fail(`expected ',' or ']', found ${d < 0 ? 'end of file' : `'${String.fromCharCode(d)}'`}`);
      }
    }
    if (r.peekNonWs() >= 0) r.fail('unexpected data after the list');
  } finally {
    r.close();
  }
  return out;
}

export interface AttentionSet {
  maps: Map<string, AttentionMap>;
  warnings: string[];
  /** Label files that were read (for the data-set fingerprint). */
  files: string[];
  /** The file each map was read from (attention_val.json or the update file), by key. */
  origin: Map<string, string>;
}

/**
 * Validation maps: attention_val.json, then attention_val_update.json replaces maps of the
 * same name, then attention_val_remove.json drops names. Update and remove files are
 * optional (absent = empty). attention_val.json is required.
 */
export function loadValAttention(dataDir: string): AttentionSet {
  const warnings: string[] = [];
  const valFile = path.join(dataDir, ATTENTION_FILES.val);
  if (!fs.existsSync(valFile)) throw new GradiaInputError(valFile, 'missing: phase 2 needs the validation attention maps');
  const files = [valFile];
  const maps = readAttentionFile(valFile) as Map<string, AttentionMap>;
  const origin = new Map<string, string>([...maps.keys()].map((k) => [k, valFile]));
  const updFile = path.join(dataDir, ATTENTION_FILES.valUpdate);
  if (fs.existsSync(updFile)) {
    files.push(updFile);
    for (const [k, m] of readAttentionFile(updFile)) {
      maps.set(k, m as AttentionMap);
      origin.set(k, updFile);
    }
  }
  const remFile = path.join(dataDir, ATTENTION_FILES.valRemove);
  if (fs.existsSync(remFile)) {
    files.push(remFile);
    let absent = 0;
    for (const k of readAttentionFile(remFile, { mapsRequired: false }).keys()) {
      if (!maps.delete(k)) absent++;
      origin.delete(k);
    }
    if (absent > 0) warnings.push(`${remFile}: ${absent} entr${absent === 1 ? 'y names' : 'ies name'} no validation map (ignored)`);
  }
  return { maps, warnings, files, origin };
}

/** Test maps (attention_test.json); absent file -> no maps and a warning. */
export function loadTestAttention(dataDir: string): AttentionSet {
  const f = path.join(dataDir, ATTENTION_FILES.test);
  if (!fs.existsSync(f)) return { maps: new Map(), warnings: [`${f}: missing, so no test IoU can be computed`], files: [], origin: new Map() };
  const maps = readAttentionFile(f) as Map<string, AttentionMap>;
  return { maps, warnings: [], files: [f], origin: new Map([...maps.keys()].map((k) => [k, f])) };
}
