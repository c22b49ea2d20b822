/**
 * RES's label files (RES.py `load_path_to_attentions`): every file of
 * `<data-dir>/attention_label/` is a CSV with a header naming at least `img_idx`,
 * `attention` and `img_check`; `attention` is a 2-D JSON list (RES's maps are 224 x 224,
 * values 0/1); only rows whose `img_check` is `good` count; the image is `<img_idx>.jpg`.
 * Files whose name contains `counterfactual` hold negative ("do not look here") maps, the
 * others positive ones. An image's label is positive minus negative; an image with only a
 * negative map has no label (RES keys its labels by the positive maps).
 */
import fs from 'node:fs';
import path from 'node:path';
import { GradiaInputError } from '../util/errors.js';
import { quantise } from './json_stream.js';
import type { HumanMap } from './types.js';

export const RES_LABEL_DIR = 'attention_label';
const REQUIRED_COLUMNS = ['img_idx', 'attention', 'img_check'] as const;
const IMAGE_EXT = /\.(jpe?g|png|bmp|webp|tiff?)$/i;

/** One CSV record: its fields and the line it starts on (1-based). */
interface CsvRecord {
  fields: string[];
  line: number;
}

/**
 * RFC 4180 CSV (what pandas writes and reads): comma-separated fields, double-quoted when
 * they hold commas, quotes or newlines, `""` for a quote inside quotes; LF or CRLF records.
 * Fields are sliced out of the text (a 224 x 224 map is ~150 kB of it), never built a
 * character at a time.
 */
export function parseCsv(text: string, file: string): CsvRecord[] {
  const out: CsvRecord[] = [];
  const special = /[,\r\n"]/g;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // byte order mark
  let line = 1;
  let fields: string[] = [];
  let start = line;
  const countLines = (a: number, b: number): void => {
    for (let k = text.indexOf('\n', a); k >= 0 && k < b; k = text.indexOf('\n', k + 1)) line++;
  };
  for (;;) {
    // one field starts at i
    let field: string;
    if (text[i] === '"') {
      const parts: string[] = [];
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) throw new GradiaInputError(file, `line ${start}: a quoted field is never closed (not valid CSV)`);
        parts.push(text.slice(j, q));
        countLines(j, q);
        if (text[q + 1] === '"') {
          parts.push('"');
          j = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      field = parts.length === 1 ? parts[0]! : parts.join('');
      if (i < text.length && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') throw new GradiaInputError(file, `line ${line}: text after a closing quote (not valid CSV)`);
    } else {
      special.lastIndex = i;
      const m = special.exec(text);
      const j = m ? m.index : text.length;
      if (m && m[0] === '"') throw new GradiaInputError(file, `line ${line}: a quote inside an unquoted field (not valid CSV)`);
      field = text.slice(i, j);
      i = j;
    }
    fields.push(field);
    if (i >= text.length || text[i] === '\n' || text[i] === '\r') {
      if (!(fields.length === 1 && fields[0] === '')) out.push({ fields, line: start }); // skip blank lines
      fields = [];
      if (i >= text.length) break;
      i += text[i] === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      start = line;
      if (i >= text.length) break;
    } else i++; // the comma
  }
  return out;
}

/**
 * The `attention` field: a rectangular 2-D JSON list of numbers in [0, 1], stored as value
 * x 255 (any positive value at least 1), as the JSON attention files are. Scanned in place
 * (no nested arrays); a field that is not a list of lists of numbers is an error.
 */
function parseMapField(text: string, file: string, where: string): HumanMap {
  const bad = (problem: string): never => {
    throw new GradiaInputError(file, `${where}: ${problem}`);
  };
  let i = 0;
  const n = text.length;
  const ws = (): void => {
    for (let c = text.charCodeAt(i); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = text.charCodeAt(++i));
  };
  ws();
  if (text[i] !== '[') bad(`attention is not a JSON list (${JSON.stringify(text.slice(0, 30))}...)`);
  i++;
  ws();
  if (text[i] !== '[') bad('attention must be a non-empty 2-D list of numbers');
  let data = new Uint8Array(224 * 224);
  let count = 0;
  let w = -1;
  let h = 0;
  for (;;) {
    ws();
    if (text[i] !== '[') bad(`attention row ${h} is not a list (the map must be 2-D)`);
    i++;
    ws();
    let cols = 0;
    if (text[i] === ']') i++;
    else {
      for (;;) {
        ws();
        let j = i;
        let v: number;
        const c = text.charCodeAt(i);
        const d = text.charCodeAt(i + 1);
        if ((c === 0x30 || c === 0x31) && (d === 0x2c || d === 0x5d || d === 0x20)) {
          v = c - 0x30; // the 0/1 maps of the real files: no string is built
          j = i + 1;
        } else {
          while (j < n && text[j] !== ',' && text[j] !== ']' && text[j] !== ' ' && text[j] !== '\n' && text[j] !== '\r' && text[j] !== '\t') j++;
          const t = text.slice(i, j);
          v = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(t) ? Number(t) : NaN;
          if (!(v >= 0 && v <= 1)) bad(`attention[${h}][${cols}] = ${t.slice(0, 20) || 'nothing'} is not a number in [0, 1]`);
        }
        if (count >= data.length) {
          const bigger = new Uint8Array(data.length * 2);
          bigger.set(data);
          data = bigger;
        }
        data[count++] = v <= 0 ? 0 : quantise(v);
        cols++;
        i = j;
        ws();
        const e = text.charCodeAt(i);
        if (e === 0x2c) i++;
        else if (e === 0x5d) {
          i++;
          break;
        } else bad(`attention row ${h}: expected ',' or ']' after a value`);
      }
    }
    if (w < 0) w = cols;
    else if (cols !== w) bad(`attention row ${h} has ${cols} values, row 0 has ${w} (the map must be rectangular)`);
    h++;
    ws();
    if (text[i] === ',') i++;
    else if (text[i] === ']') {
      i++;
      break;
    } else bad(`attention: expected ',' or ']' after row ${h - 1}`);
  }
  ws();
  if (i < n) bad('attention: text after the list');
  if (w === 0) bad('attention has empty rows');
  return { h, w, data: count === data.length ? data : data.slice(0, count) };
}

/** The image file name of an `img_idx`: RES appends `.jpg`; a name that has an image extension is kept. */
export function resImageName(imgIdx: string): string {
  return IMAGE_EXT.test(imgIdx) ? imgIdx : `${imgIdx}.jpg`;
}

/** The `good` maps of one RES CSV file by image name (a later row replaces an earlier one). */
export function readResCsv(file: string): { maps: Map<string, HumanMap>; skipped: number } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new GradiaInputError(file, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const records = parseCsv(text, file);
  if (records.length === 0) throw new GradiaInputError(file, 'the file is empty (expected a header with img_idx, attention, img_check)');
  const header = records[0]!.fields.map((f) => f.trim());
  const col = Object.fromEntries(REQUIRED_COLUMNS.map((c) => [c, header.indexOf(c)])) as Record<(typeof REQUIRED_COLUMNS)[number], number>;
  const missing = REQUIRED_COLUMNS.filter((c) => col[c] < 0);
  if (missing.length) throw new GradiaInputError(file, `the header has no ${missing.join(', ')} column (found: ${header.join(', ').slice(0, 80)})`);
  const maps = new Map<string, HumanMap>();
  let skipped = 0;
  for (const rec of records.slice(1)) {
    if (rec.fields.length !== header.length) throw new GradiaInputError(file, `line ${rec.line}: ${rec.fields.length} fields, the header has ${header.length}`);
    if (rec.fields[col.img_check]!.trim() !== 'good') {
      skipped++;
      continue;
    }
    const idx = rec.fields[col.img_idx]!.trim();
    const where = `line ${rec.line} (img_idx ${JSON.stringify(idx)})`;
    if (idx === '' || /[/\\]/.test(idx)) throw new GradiaInputError(file, `${where}: img_idx must name an image file (no path)`);
    maps.set(resImageName(idx), parseMapField(rec.fields[col.attention]!, file, where));
  }
  return { maps, skipped };
}

export interface ResLabelSet {
  /** Positive minus negative, as separate planes (`data`, `negative`), by image name. */
  maps: Map<string, HumanMap>;
  warnings: string[];
  /** The CSV files read (for the data-set fingerprint). */
  files: string[];
  /** The positive file each map came from, by image name. */
  origin: Map<string, string>;
}

/** The CSV files of `<dataDir>/attention_label/` in name order; empty when the folder is absent. */
export function resLabelFiles(dataDir: string): string[] {
  const dir = path.join(dataDir, RES_LABEL_DIR);
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.csv')).sort().map((f) => path.join(dir, f));
}

/**
 * RES's labels of a data set (null when `<dataDir>/attention_label/` has no CSV file).
 * Where a pixel is marked both positive and negative it is neither (RES subtracts the maps).
 */
export function loadResLabels(dataDir: string): ResLabelSet | null {
  const files = resLabelFiles(dataDir);
  if (files.length === 0) return null;
  const pos = new Map<string, HumanMap>();
  const neg = new Map<string, { map: HumanMap; file: string }>();
  const origin = new Map<string, string>();
  const warnings: string[] = [];
  for (const f of files) {
    const isNegative = path.basename(f).includes('counterfactual');
    const { maps, skipped } = readResCsv(f);
    if (maps.size === 0) warnings.push(`${f}: no row has img_check 'good'${skipped ? ` (${skipped} skipped)` : ''}`);
    for (const [k, m] of maps) {
      if (isNegative) neg.set(k, { map: m, file: f });
      else {
        pos.set(k, m);
        origin.set(k, f);
      }
    }
  }
  const out = new Map<string, HumanMap>();
  for (const [k, p] of pos) {
    const n = neg.get(k);
    if (!n) {
      out.set(k, p);
      continue;
    }
    if (n.map.h !== p.h || n.map.w !== p.w) {
      throw new GradiaInputError(n.file, `${k}: counterfactual map is ${n.map.h}x${n.map.w}, its positive map in ${origin.get(k)} is ${p.h}x${p.w}`);
    }
    const data = new Uint8Array(p.data.length);
    const negative = new Uint8Array(p.data.length);
    let anyNegative = false;
    for (let i = 0; i < data.length; i++) {
      const d = p.data[i]! - n.map.data[i]!;
      if (d > 0) data[i] = d;
      else if (d < 0) {
        negative[i] = -d;
        anyNegative = true;
      }
    }
    out.set(k, anyNegative ? { h: p.h, w: p.w, data, negative } : { h: p.h, w: p.w, data });
  }
  const orphans = [...neg.keys()].filter((k) => !pos.has(k));
  if (orphans.length) warnings.push(`${path.join(dataDir, RES_LABEL_DIR)}: ${orphans.length} counterfactual map${orphans.length === 1 ? ' has' : 's have'} no positive map (e.g. ${orphans[0]}), ignored as RES does`);
  return { maps: out, warnings, files, origin };
}
