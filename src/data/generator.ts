/**
 * `make-data`: a small data set in the original GRADIA layout where attention matters.
 *
 * Each image shows a SUBJECT whose shape decides the class (class `circle`: a filled disc,
 * class `cross`: a filled plus sign), in a random colour from a palette shared by both
 * classes, at a random place in one quadrant, and a CONTEXT object (a saturated square
 * patch, red for `circle`, blue for `cross`) in the diagonally opposite quadrant. In train
 * and val the patch agrees with the class with probability P (`spurious`); in test it is
 * drawn independently of the class (50/50). The patch is the easy cue (colour), the shape
 * the right one, and they sit in different quadrants so Grad-CAM can tell them apart on
 * the coarse layer4 grid of a small input (3x3 at 96 px, the default size: at 64 px the
 * grid is 2x2 and OpenCV's 3x3 blur makes every attention target constant). The human map is the subject's silhouette,
 * drawn loosely: dilated by a few pixels with a wobbly, slightly shifted outline that
 * always covers the subject. With `negatives`, the maps also mark the context patch -1
 * ("do not look here": it is the class-irrelevant distractor), so RES's objectives have
 * negative labels to use. Deterministic for a seed (own PRNG, PNG output).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { GradiaInputError } from '../util/errors.js';
import { mulberry32 } from '../util/hash.js';
import { FEATURE_STRIDE, isValidInputSize } from '../config/geometry.js';

export const CLASSES = ['circle', 'cross'] as const;
export const CUE_COLOURS: readonly [number, number, number][] = [
  [225, 30, 35], // circle
  [30, 60, 230], // cross
];
/** subject colours (both classes): no saturated red or blue, so colour says nothing of the class */
const SUBJECT_PALETTE: [number, number, number][] = [
  [240, 200, 60], [80, 180, 80], [230, 230, 230], [160, 120, 80], [120, 200, 190], [200, 150, 200], [90, 90, 90], [250, 160, 80],
];

export interface GenerateOptions {
  out: string;
  seed: number;
  train: number;
  val: number;
  test: number;
  /** image size in pixels (square) */
  size: number;
  /** probability that the context patch agrees with the class in train and val */
  spurious: number;
  /** mark the context patch -1 in the human maps (off: the maps are 0/1, byte for byte as before) */
  negatives?: boolean;
}

export const MAKE_DATA_DEFAULTS = { seed: 0, train: 400, val: 100, test: 100, size: 96, spurious: 0.95 } as const;

/** Uniform numbers in [0, 1) from mulberry32: small, fast, deterministic. */
export function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

/** A seed per (run seed, split, index), so every image is independent of the others. */
function sampleSeed(seed: number, split: number, index: number): number {
  let h = Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(split + 1, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

export interface RenderedSample {
  label: number;
  /** class whose colour the context patch has */
  cue: number;
  size: number;
  /** HWC RGB */
  rgb: Uint8Array;
  /** 1 where the subject is */
  subject: Uint8Array;
  /** 1 where the (loose) human map is */
  human: Uint8Array;
  /** 1 where the context patch is */
  context: Uint8Array;
}

/** Chamfer (3-4) distance, in pixels, to the nearest set pixel of `mask`. */
function distanceTo(mask: Uint8Array, s: number): Float32Array {
  const INF = 1e9;
  const d = new Float32Array(s * s);
  for (let i = 0; i < d.length; i++) d[i] = mask[i] ? 0 : INF;
  const at = (x: number, y: number): number => (x < 0 || y < 0 || x >= s || y >= s ? INF : d[y * s + x]);
  for (let y = 0; y < s; y++)
    for (let x = 0; x < s; x++) {
      const i = y * s + x;
      d[i] = Math.min(d[i], at(x - 1, y) + 3, at(x, y - 1) + 3, at(x - 1, y - 1) + 4, at(x + 1, y - 1) + 4);
    }
  for (let y = s - 1; y >= 0; y--)
    for (let x = s - 1; x >= 0; x--) {
      const i = y * s + x;
      d[i] = Math.min(d[i], at(x + 1, y) + 3, at(x, y + 1) + 3, at(x + 1, y + 1) + 4, at(x - 1, y + 1) + 4);
    }
  for (let i = 0; i < d.length; i++) d[i] /= 3;
  return d;
}

/**
 * Render one image. `label` decides the subject's shape; `cue` the context patch colour.
 * Pure function of its arguments.
 */
export function renderSample(seed: number, size: number, label: number, cue: number): RenderedSample {
  const r = rng(seed);
  const s = size;
  const u = s / 64; // geometry is designed at 64 px and scales with the size
  const rgb = new Uint8Array(s * s * 3);
  // background: a soft gradient between two dull colours, plus pixel noise
  const bg0 = [60 + r() * 80, 60 + r() * 80, 60 + r() * 80];
  const bg1 = [60 + r() * 80, 60 + r() * 80, 60 + r() * 80];
  const gAngle = r() * Math.PI * 2;
  const gx = Math.cos(gAngle);
  const gy = Math.sin(gAngle);
  for (let y = 0; y < s; y++)
    for (let x = 0; x < s; x++) {
      const t = 0.5 + 0.5 * ((x / s - 0.5) * gx + (y / s - 0.5) * gy);
      for (let c = 0; c < 3; c++) rgb[(y * s + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(bg0[c] * (1 - t) + bg1[c] * t + (r() - 0.5) * 24)));
    }
  // quadrants: subject in q, context patch in the opposite one
  const q = Math.floor(r() * 4);
  const qx = q & 1;
  const qy = q >> 1;
  const half = s / 2;
  const radius = (9 + r() * 4) * u; // subject half-extent
  const margin = radius + 2 * u;
  const cx = qx * half + margin + r() * Math.max(0, half - 2 * margin);
  const cy = qy * half + margin + r() * Math.max(0, half - 2 * margin);
  const subject = new Uint8Array(s * s);
  const arm = radius * (0.36 + r() * 0.08); // cross arm half-width
  for (let y = 0; y < s; y++)
    for (let x = 0; x < s; x++) {
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      const inside = label === 0 ? dx * dx + dy * dy <= radius * radius : (Math.abs(dx) <= radius && Math.abs(dy) <= arm) || (Math.abs(dy) <= radius && Math.abs(dx) <= arm);
      if (inside) subject[y * s + x] = 1;
    }
  const col = SUBJECT_PALETTE[Math.floor(r() * SUBJECT_PALETTE.length)];
  for (let i = 0; i < s * s; i++)
    if (subject[i]) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.max(0, Math.min(255, Math.round(col[c] + (r() - 0.5) * 20)));
  // context patch
  const context = new Uint8Array(s * s);
  const side = Math.round((9 + r() * 3) * u);
  const ox = (1 - qx) * half + Math.floor(2 * u + r() * Math.max(0, half - side - 4 * u));
  const oy = (1 - qy) * half + Math.floor(2 * u + r() * Math.max(0, half - side - 4 * u));
  const cc = CUE_COLOURS[cue];
  for (let y = oy; y < Math.min(s, oy + side); y++)
    for (let x = ox; x < Math.min(s, ox + side); x++) {
      const i = y * s + x;
      context[i] = 1;
      for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.max(0, Math.min(255, Math.round(cc[c] + (r() - 0.5) * 16)));
    }
  // human map: silhouette dilated by a wobbly radius, shifted by up to `jit` px, always >= jit + 1
  const jit = Math.max(1, Math.round(u));
  const sx = Math.round((r() * 2 - 1) * jit);
  const sy = Math.round((r() * 2 - 1) * jit);
  const shifted = new Uint8Array(s * s);
  for (let y = 0; y < s; y++)
    for (let x = 0; x < s; x++) {
      const yy = y - sy;
      const xx = x - sx;
      if (yy >= 0 && xx >= 0 && yy < s && xx < s && subject[yy * s + xx]) shifted[y * s + x] = 1;
    }
  const dist = distanceTo(shifted, s);
  const base = jit + 1 + (1 + r() * 1.5) * u;
  const amp = (0.5 + r()) * u;
  const f1 = 2 + Math.floor(r() * 3);
  const ph = r() * Math.PI * 2;
  const human = new Uint8Array(s * s);
  for (let y = 0; y < s; y++)
    for (let x = 0; x < s; x++) {
      const th = Math.atan2(y + 0.5 - cy - sy, x + 0.5 - cx - sx);
      const rad = base + amp * Math.sin(f1 * th + ph);
      if (dist[y * s + x] <= Math.max(jit + 1, rad)) human[y * s + x] = 1;
    }
  return { label, cue, size: s, rgb, subject, human, context };
}

/** The label/cue plan of a split: pure function of (seed, split, n, spurious). */
export function planSplit(seed: number, split: 'train' | 'val' | 'test', n: number, spurious: number): { label: number; cue: number; seed: number }[] {
  const si = split === 'train' ? 0 : split === 'val' ? 1 : 2;
  const r = rng(sampleSeed(seed, si, -1));
  const out: { label: number; cue: number; seed: number }[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % 2 === 0 ? 0 : 1; // balanced classes
    const agrees = split === 'test' ? r() < 0.5 : r() < spurious;
    out.push({ label, cue: agrees ? label : 1 - label, seed: sampleSeed(seed, si, i) });
  }
  // shuffle the order (Fisher-Yates) so the file names do not reveal the class
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export interface GeneratedSummary {
  out: string;
  counts: Record<'train' | 'val' | 'test', number>;
  /** fraction of images whose context patch agrees with the class */
  cueAgreement: Record<'train' | 'val' | 'test', number>;
  reused: boolean;
  /** an earlier data set of make-data's in the folder was replaced */
  replaced: boolean;
  /**
   * Files an earlier make-data wrote that have been changed since (e.g. reasonablity_val.json
   * rewritten by `assess`): no longer make-data's, so left as they are. Relative to `out`.
   */
  kept: string[];
}

/**
 * The marker, in the folder: the options and, per file make-data wrote, the sha256 of the
 * bytes it wrote. A file is make-data's own while its bytes still hash to one of these;
 * only its own files are ever replaced or removed. `params: null` marks a replacement in
 * progress (then a file may hold either the old or the new bytes). Version-1 markers (no
 * `files`) list nothing: their files are derived from the options.
 */
const MARKER = '.gradia-generated.json';
interface Marker {
  params: Params | null;
  summary?: Omit<GeneratedSummary, 'out' | 'kept' | 'replaced'>;
  files?: Record<string, string[]>;
}
type Params = { version: 1; seed: number; train: number; val: number; test: number; size: number; spurious: number; negatives?: true };
const LABEL_FILES = ['attention_val.json', 'attention_test.json', 'attention_val_update.json', 'attention_val_remove.json'] as const;
/** People, or `assess`, rewrite it by design: when it is no longer make-data's it is kept. */
const JUDGEMENTS = 'reasonablity_val.json';

const imageName = (split: string, i: number): string => `${split}_${String(i).padStart(5, '0')}.png`;

/** Every file (posix paths relative to the folder, marker excluded) a data set with `p` has. */
function plannedFiles(p: Params): string[] {
  const files: string[] = [];
  for (const split of ['train', 'val', 'test'] as const) {
    planSplit(p.seed, split, p[split], p.spurious).forEach((s, i) => files.push(`gender_data/${split}/${CLASSES[s.label]}/${imageName(split, i)}`));
  }
  return [...files, ...LABEL_FILES, JUDGEMENTS];
}

/** Whether anything (a dangling link too) is at `p`. */
function present(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** A marker's relative path, refused unless it stays inside the folder (a hand-edited marker must not reach out). */
function safeRel(markerFile: string, rel: string): string {
  const norm = path.posix.normalize(rel);
  if (rel === '' || norm !== rel || rel.startsWith('/') || rel.split('/').includes('..') || rel === MARKER || /^[a-zA-Z]:|\\/.test(rel)) {
    throw new GradiaInputError(markerFile, `lists ${JSON.stringify(rel)}, which is not a path inside the folder; remove the marker only if the folder is make-data's`);
  }
  return rel;
}

function readMarker(file: string): Marker {
  let m: unknown;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new GradiaInputError(file, `unreadable make-data marker (${(e as Error).message.split('\n')[0]}); choose another --out`);
  }
  const ok =
    m !== null && typeof m === 'object' && 'params' in m &&
    (!('files' in m) || ((m as Marker).files !== null && typeof (m as Marker).files === 'object' && Object.values((m as Marker).files!).every((h) => Array.isArray(h) && h.every((x) => typeof x === 'string'))));
  if (!ok) throw new GradiaInputError(file, 'not a make-data marker (expected {"params", "files"}); choose another --out');
  return m as Marker;
}

/**
 * The files an earlier make-data left in `out` that are still as it wrote them (path ->
 * current sha256), and those changed since (no longer its own).
 */
function ownFiles(out: string, markerFile: string, marker: Marker): { ours: Map<string, string>; changed: string[] } {
  const ours = new Map<string, string>();
  const changed: string[] = [];
  // version 1: the files follow from the options; the judgements file is its own only while it is still `{}`
  const listed: [string, string[] | null][] = marker.files
    ? Object.entries(marker.files)
    : marker.params
      ? plannedFiles(marker.params).map((f) => [f, null])
      : [];
  for (const [rel, hashes] of listed) {
    const abs = path.join(out, ...safeRel(markerFile, rel).split('/'));
    let st: fs.Stats;
    try {
      st = fs.lstatSync(abs);
    } catch {
      continue; // gone: nothing to replace
    }
    const sha = st.isFile() ? sha256File(abs) : '';
    const own = hashes ? hashes.includes(sha) : st.isFile() && (rel !== JUDGEMENTS || fs.readFileSync(abs, 'utf8') === '{}\n');
    if (own) ours.set(rel, sha);
    else changed.push(rel);
  }
  return { ours, changed };
}

/** Write `value` as `file` atomically (through `via`, a path on the same file system). */
function writeJsonAtomic(file: string, via: string, value: unknown): void {
  fs.writeFileSync(via, `${JSON.stringify(value, null, 1)}\n`);
  fs.renameSync(via, file);
}

/** A map as JSON rows: 1 where `mask` is set, else -1 where `negative` is set, else 0. */
function mapJson(mask: Uint8Array, s: number, negative?: Uint8Array): string {
  const rows: string[] = [];
  for (let y = 0; y < s; y++) {
    const row = Array.from(mask.subarray(y * s, (y + 1) * s), (v, x) => (v ? v : negative && negative[y * s + x] ? -1 : 0));
    rows.push(`[${row.join(',')}]`);
  }
  return `[${rows.join(',')}]`;
}

function validate(o: GenerateOptions): void {
  const bad = (flag: string, why: string): never => {
    throw new GradiaInputError(null, `make-data: ${flag} ${why}`);
  };
  for (const k of ['train', 'val', 'test'] as const) if (!Number.isInteger(o[k]) || o[k] < 2) bad(`--${k}`, `must be an integer >= 2 (got ${o[k]})`);
  if (!isValidInputSize(o.size)) bad('--size', `must be a multiple of ${FEATURE_STRIDE}, at least ${FEATURE_STRIDE} (got ${o.size})`);
  if (!(o.spurious >= 0 && o.spurious <= 1)) bad('--spurious', `must be a probability in [0, 1] (got ${o.spurious})`);
  if (!Number.isInteger(o.seed)) bad('--seed', `must be an integer (got ${o.seed})`);
}

/**
 * Write the data set to `opts.out`. A folder that already holds this data set (same
 * options, every file there) is kept as is. Otherwise make-data writes into a new or empty
 * folder, or over its own earlier output, where it replaces or removes only the files it
 * wrote that are still as it wrote them: anything else there (model_save/, results/, a
 * reasonablity_val.json from `assess`, ...) is left alone. A non-empty folder without its
 * marker is refused, and so is a file of someone else's in the way of a file it writes.
 * The set is rendered into a temporary folder beside `out` first; the marker is rewritten
 * before and after the swap, so a run killed at any point can be re-run.
 */
export async function generateDataSet(opts: GenerateOptions): Promise<GeneratedSummary> {
  validate(opts);
  const out = path.resolve(opts.out);
  // `negatives` only when on, so that the marker (and the reuse check) of a 0/1 set is as before
  const params: Params = { version: 1, seed: opts.seed, train: opts.train, val: opts.val, test: opts.test, size: opts.size, spurious: opts.spurious, ...(opts.negatives ? { negatives: true as const } : {}) };
  const markerFile = path.join(out, MARKER);
  let ours = new Map<string, string>();
  let kept: string[] = [];
  if (fs.existsSync(out)) {
    if (!fs.statSync(out).isDirectory()) throw new GradiaInputError(out, 'exists and is not a folder; choose an empty or new folder');
    if (fs.existsSync(markerFile)) {
      const prev = readMarker(markerFile);
      const complete = prev.params !== null && prev.summary !== undefined && (!prev.files || Object.keys(prev.files).every((f) => fs.existsSync(path.join(out, ...safeRel(markerFile, f).split('/')))));
      if (complete && JSON.stringify(prev.params) === JSON.stringify(params)) return { ...prev.summary!, out, reused: true, replaced: false, kept: [] };
      ({ ours, changed: kept } = ownFiles(out, markerFile, prev));
    } else if (fs.readdirSync(out).length > 0) {
      throw new GradiaInputError(out, 'exists, is not empty and was not written by make-data; choose an empty or new folder');
    }
  }
  const planned = plannedFiles(params);
  const writes = planned.filter((rel) => {
    const abs = path.join(out, ...rel.split('/'));
    if (ours.has(rel) || !present(abs)) return true;
    if (rel === JUDGEMENTS && fs.statSync(abs).isFile()) {
      if (!kept.includes(rel)) kept.push(rel);
      return false;
    }
    throw new GradiaInputError(abs, 'is in the way of a file make-data writes and was not written by it (or was changed since); move it away or choose another --out');
  });
  kept = kept.sort();

  const tmp = `${out}.tmp-${process.pid}`;
  removeQuietly(tmp);
  removeDeadTemps(out);
  const counts = { train: opts.train, val: opts.val, test: opts.test };
  const cueAgreement = { train: 0, val: 0, test: 0 };
  try {
    for (const split of ['train', 'val', 'test'] as const) {
      for (const c of CLASSES) fs.mkdirSync(path.join(tmp, 'gender_data', split, c), { recursive: true });
      const plan = planSplit(opts.seed, split, counts[split], opts.spurious);
      const attention: string[] = [];
      let agree = 0;
      let next = 0;
      const work = async (): Promise<void> => {
        while (next < plan.length) {
          const i = next++;
          const p = plan[i];
          const smp = renderSample(p.seed, opts.size, p.label, p.cue);
          if (p.cue === p.label) agree++;
          const rel = path.posix.join('gender_data', split, CLASSES[p.label], imageName(split, i));
          await sharp(Buffer.from(smp.rgb.buffer, smp.rgb.byteOffset, smp.rgb.length), { raw: { width: opts.size, height: opts.size, channels: 3 } })
            .png({ compressionLevel: 6 })
            .toFile(path.join(tmp, rel));
          if (split !== 'train') attention[i] = `{"img":${JSON.stringify(rel)},"attention":${mapJson(smp.human, opts.size, opts.negatives ? smp.context : undefined)}}`;
        }
      };
      await Promise.all([work(), work(), work(), work()]);
      cueAgreement[split] = agree / plan.length;
      if (split !== 'train') fs.writeFileSync(path.join(tmp, split === 'val' ? 'attention_val.json' : 'attention_test.json'), `[${attention.join(',\n')}]\n`);
    }
    fs.writeFileSync(path.join(tmp, 'attention_val_update.json'), '[]\n');
    fs.writeFileSync(path.join(tmp, 'attention_val_remove.json'), '[]\n');
    fs.writeFileSync(path.join(tmp, JUDGEMENTS), '{}\n');
    const newHash = new Map(writes.map((rel) => [rel, sha256File(path.join(tmp, ...rel.split('/')))]));
    swap(out, tmp, markerFile, ours, writes, newHash);
    const summary: GeneratedSummary = { out, counts, cueAgreement, reused: false, replaced: ours.size > 0, kept };
    const stored = { counts, cueAgreement, reused: false }; // no absolute path: same options, same bytes
    try {
      writeJsonAtomic(markerFile, path.join(tmp, MARKER), { params, summary: stored, files: sortKeys(Object.fromEntries([...newHash].map(([rel, sha]) => [rel, [sha]]))) } satisfies Marker);
    } catch (e) {
      throw unfinished(out, e);
    }
    return summary;
  } catch (e) {
    if (e instanceof GradiaInputError) throw e;
    // rendering into the temporary folder failed (disk full, ...): nothing in `out` changed
    const err = e as NodeJS.ErrnoException;
    throw new GradiaInputError(err.path ?? tmp, `could not write the data set (${err.code ?? err.message}); ${out} was not changed`);
  } finally {
    removeQuietly(tmp);
  }
}

/** Remove a temporary folder of make-data's; a failure here must not hide the error that matters. */
function removeQuietly(p: string): void {
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch {
    // nothing there to remove (e.g. ENOTDIR), or it cannot be: left behind, removed by a later run
  }
}

function unfinished(out: string, e: unknown): GradiaInputError {
  const err = e as NodeJS.ErrnoException;
  return new GradiaInputError(err.path ?? out, `make-data stopped half way through replacing its files in ${out} (${err.code ?? err.message}); run the same make-data again to finish`);
}

/**
 * Move the rendered files from `tmp` into `out`, replacing or removing only make-data's own
 * files (`ours`). First a marker that owns both the old and the new bytes of every path,
 * so that a run stopped here is still make-data's output to the next run.
 */
function swap(out: string, tmp: string, markerFile: string, ours: Map<string, string>, writes: string[], newHash: Map<string, string>): void {
  try {
    fs.mkdirSync(out, { recursive: true });
    const during: Record<string, string[]> = {};
    for (const [rel, sha] of ours) during[rel] = [sha];
    for (const [rel, sha] of newHash) during[rel] = [...new Set([...(during[rel] ?? []), sha])];
    writeJsonAtomic(markerFile, path.join(tmp, MARKER), { params: null, files: sortKeys(during) } satisfies Marker);
    for (const rel of ours.keys()) if (!newHash.has(rel)) fs.rmSync(path.join(out, ...rel.split('/')), { force: true });
    for (const rel of writes) {
      const dest = path.join(out, ...rel.split('/'));
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.renameSync(path.join(tmp, ...rel.split('/')), dest);
    }
    for (const split of ['train', 'val', 'test'] as const) for (const c of CLASSES) fs.mkdirSync(path.join(out, 'gender_data', split, c), { recursive: true });
  } catch (e) {
    throw unfinished(out, e);
  }
}

/** Only what make-data renders into its temporary folder. */
const TEMP_ENTRIES = new Set(['gender_data', ...LABEL_FILES, JUDGEMENTS, MARKER]);

/** Temporary folders (`<out>.tmp-<pid>`) of make-data runs that were killed: their process is gone. */
function removeDeadTemps(out: string): void {
  const parent = path.dirname(out);
  const prefix = `${path.basename(out)}.tmp-`;
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !/^\d+$/.test(name.slice(prefix.length))) continue;
    const pid = Number(name.slice(prefix.length));
    try {
      process.kill(pid, 0);
      continue; // alive (another make-data, or a reused pid): not ours to judge
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    const dir = path.join(parent, name);
    try {
      if (fs.readdirSync(dir).every((e) => TEMP_ENTRIES.has(e))) fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // not a folder, or unreadable: leave it
    }
  }
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
