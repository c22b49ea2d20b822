/**
 * The original GRADIA data layout: `<dataDir>/gender_data/<split>/<class>/<image>`
 * (torchvision ImageFolder: classes are the sorted folder names, label = index; images
 * inside a class folder are found recursively), label files beside `gender_data/`.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { GradiaInputError } from '../util/errors.js';

export const DATA_FOLDER = 'gender_data';
export type Split = 'train' | 'val' | 'test' | 'p2_train';
export const REQUIRED_SPLITS: readonly Split[] = ['train', 'val', 'test'];

/** Extensions read as images (case-insensitive): the formats sharp decodes. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.jpe', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);

export interface ImageEntry {
  /** absolute path */
  path: string;
  /** base name: the key of attention and reasonability labels */
  fileName: string;
  label: number;
  className: string;
  size: number;
  mtimeMs: number;
}

export interface SplitScan {
  split: Split;
  dir: string;
  images: ImageEntry[];
}

export interface LayoutScan {
  dataDir: string;
  classes: string[];
  splits: Partial<Record<Split, SplitScan>>;
  warnings: string[];
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The images under `dir`, recursively, following links as os.walk(followlinks=True) does,
 * but entering each real folder once: a link back to an ancestor (a loop) or a second path
 * to a folder already scanned is not followed and is reported in `warnings` by its path
 * (two links to `.` would otherwise branch at every level without end).
 */
function listImages(dir: string, skipped: string[], warnings: string[]): { path: string; size: number; mtimeMs: number }[] {
  // os.walk order as ImageFolder: sorted folder paths, then sorted file names in each.
  const out: { path: string; size: number; mtimeMs: number }[] = [];
  const seen = new Map<string, string>(); // real path -> the path it was first scanned as
  const walk = (d: string): void => {
    let real: string;
    try {
      real = fs.realpathSync(d);
    } catch (e) {
      throw new GradiaInputError(d, `cannot read folder: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const first = seen.get(real);
    if (first !== undefined) {
      warnings.push(`${d}: same folder as ${first} (reached again through a symbolic link); scanned once, not followed`);
      return;
    }
    seen.set(real, d);
    let ents: fs.Dirent[];
    try {
      ents = fs.readdirSync(d, { withFileTypes: true });
    } catch (e) {
      throw new GradiaInputError(d, `cannot read folder: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const names = ents.map((e) => e.name).sort();
    const subdirs: string[] = [];
    for (const n of names) {
      const p = path.join(d, n);
      let st: fs.Stats;
      try {
        st = fs.statSync(p); // follows links, as os.walk(followlinks=True)
      } catch {
        skipped.push(p);
        continue;
      }
      if (st.isDirectory()) subdirs.push(p);
      else if (st.isFile() && !n.startsWith('.') && IMAGE_EXTENSIONS.has(path.extname(n).toLowerCase())) out.push({ path: p, size: st.size, mtimeMs: st.mtimeMs });
      else skipped.push(p);
    }
    for (const s of subdirs) walk(s);
  };
  walk(dir);
  return out;
}

/** Scan one split folder. `classes` (from train) must match when given. */
export function scanSplit(dataDir: string, split: Split, classes: string[] | null, warnings: string[]): SplitScan {
  const dir = path.join(path.resolve(dataDir), DATA_FOLDER, split);
  if (!isDir(dir)) throw new GradiaInputError(dir, `missing: the ${split} split folder (expected ${DATA_FOLDER}/${split}/<class>/<image>)`);
  const entries = fs.readdirSync(dir, { withFileTypes: true });
  const found = entries.filter((e) => !e.name.startsWith('.') && isDir(path.join(dir, e.name))).map((e) => e.name).sort();
  const loose = entries.filter((e) => !found.includes(e.name));
  if (found.length === 0) throw new GradiaInputError(dir, 'no class folders (expected one folder per class holding its images)');
  if (classes === null && found.length < 2) throw new GradiaInputError(dir, `only one class folder (${found[0]}); a classifier needs at least 2`);
  if (classes !== null && (found.length !== classes.length || found.some((c, i) => c !== classes[i]))) {
    throw new GradiaInputError(dir, `class folders [${found.join(', ')}] differ from train's [${classes.join(', ')}]`);
  }
  if (loose.length > 0) warnings.push(`${dir}: ${loose.length} file${loose.length === 1 ? '' : 's'} outside the class folders ignored`);
  const images: ImageEntry[] = [];
  const skipped: string[] = [];
  const seen = new Map<string, string>();
  found.forEach((className, label) => {
    const cdir = path.join(dir, className);
    const files = listImages(cdir, skipped, warnings);
    if (files.length === 0) throw new GradiaInputError(cdir, `class folder has no images (readable extensions: ${[...IMAGE_EXTENSIONS].join(' ')})`);
    for (const f of files) {
      const fileName = path.basename(f.path);
      const other = seen.get(fileName);
      if (other !== undefined) {
        throw new GradiaInputError(f.path, `same file name as ${other}; labels are keyed by file name, so names must be unique`);
      }
      seen.set(fileName, f.path);
      images.push({ path: f.path, fileName, label, className, size: f.size, mtimeMs: f.mtimeMs });
    }
  });
  if (skipped.length > 0) {
    warnings.push(`${dir}: ${skipped.length} non-image file${skipped.length === 1 ? '' : 's'} skipped (e.g. ${path.relative(dir, skipped[0])})`);
  }
  return { split, dir, images };
}

/**
 * Scan the layout. `train` and the other splits in `opts.splits` (default train, val,
 * test) must exist, except `p2_train`, which is scanned only when asked for and present. Classes are train's sorted folder names; every other
 * split must have the same ones.
 */
export function scanLayout(dataDir: string, opts: { splits?: Split[] } = {}): LayoutScan {
  const root = path.resolve(dataDir);
  if (!isDir(root)) throw new GradiaInputError(root, 'data directory does not exist');
  const gd = path.join(root, DATA_FOLDER);
  if (!isDir(gd)) throw new GradiaInputError(gd, `missing: expected ${DATA_FOLDER}/{train,val,test}/<class>/<image> under the data directory`);
  const warnings: string[] = [];
  const want = opts.splits ?? [...REQUIRED_SPLITS];
  const train = scanSplit(root, 'train', null, warnings);
  const classes = [...new Set(train.images.map((i) => i.className))];
  const splits: Partial<Record<Split, SplitScan>> = { train };
  for (const s of want) {
    if (s === 'train') continue;
    if (s === 'p2_train' && !isDir(path.join(gd, s))) continue;
    splits[s] = scanSplit(root, s, classes, warnings);
  }
  return { dataDir: root, classes, splits, warnings };
}

/** Whether `<dataDir>/gender_data/p2_train` exists. */
export function hasP2Train(dataDir: string): boolean {
  return isDir(path.join(path.resolve(dataDir), DATA_FOLDER, 'p2_train'));
}

/**
 * Read every image's header with sharp (in parallel, `concurrency` at a time): an
 * unreadable or unsupported file is an error naming it, before any training starts.
 * Corruption past the header is caught when the pipeline decodes the file.
 */
export async function checkImages(images: { path: string }[], concurrency = 8): Promise<void> {
  let next = 0;
  const work = async (): Promise<void> => {
    while (next < images.length) {
      const p = images[next++].path;
      try {
        const m = await sharp(p).metadata();
        if (!m.width || !m.height) throw new Error('no image size');
      } catch (e) {
        throw new GradiaInputError(p, `unreadable or corrupt image (${(e as Error).message.split('\n')[0]})`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, images.length) }, work));
}
