/**
 * The training and evaluation sets of each phase, from the original layout and label
 * files, with every input check done before training starts.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { escapeControl, GradiaInputError } from '../util/errors.js';
import { ATTENTION_FILES, attentionTarget, loadTestAttention, loadValAttention, type AttentionMap, type AttentionSet } from './attention.js';
import { drawLabelBudget, type LabelBudget } from './label_budget.js';
import { checkImages, DATA_FOLDER, hasP2Train, scanLayout, type ImageEntry, type Split } from './layout.js';
import { readReasonability, REASONABILITY_FILE, weightsFor } from './reasonability.js';
import { loadResLabels, RES_LABEL_DIR, resLabelFiles } from './res_csv.js';
import { positiveMaskAt, resTarget } from './res_target.js';
import type { EvalSample, TargetKind, TrainSample } from './types.js';

export type { EvalSample, TrainSample, HumanMap } from './types.js';

export interface TrainSetOptions {
  phase: 1 | 2;
  /** --reasonability / --reasonablity: drop maps labelled `Reasonable Accurate` */
  reasonability: boolean;
  /** Grad-CAM grid G = input size / 32 */
  grid: number;
  /** read every image header before training (default true) */
  checkImages?: boolean;
  /** which grid target the maps become (default `gradia`; `res` for RES's objectives) */
  targets?: TargetKind;
  /** also give each labelled sample RES-L's positive mask at the input size (grid * 32) */
  fullMask?: boolean;
  /** --label-budget / --label-seed: keep only this many maps per class */
  labelBudget?: LabelBudget | null;
}

export interface TrainSet {
  classes: string[];
  samples: TrainSample[];
  warnings: string[];
  /** which folders the samples came from */
  source: 'train' | 'p2_train' | 'train+val';
  /** with a label budget: per class, the maps available and kept */
  budget?: { available: number; kept: number }[];
}

/**
 * Adds RES's CSV labels (`attention_label/`, when present) to a JSON label set: a CSV map
 * replaces a JSON map of the same image, with one warning saying how many did. The
 * result's warnings are the CSV side's only (the caller has the JSON set's).
 */
function withResLabels(json: AttentionSet | null, dataDir: string): AttentionSet | null {
  const res = loadResLabels(dataDir);
  if (!res) return json && { ...json, warnings: [] };
  const base: AttentionSet = json ?? { maps: new Map(), warnings: [], files: [], origin: new Map() };
  const warnings = [...res.warnings];
  let replaced = 0;
  for (const [k, m] of res.maps) {
    if (base.maps.has(k)) replaced++;
    base.maps.set(k, m);
    base.origin.set(k, res.origin.get(k)!);
  }
  if (replaced) warnings.push(`${path.join(dataDir, RES_LABEL_DIR)}: ${replaced} map${replaced === 1 ? ' replaces' : 's replace'} the JSON file's map of the same image`);
  return { maps: base.maps, origin: base.origin, files: [...base.files, ...res.files], warnings };
}

/** Count label entries naming no image of `names`; all of them -> error, some -> warning. */
function checkDangling(keys: Iterable<string>, names: Set<string>, file: string, what: string, warnings: string[]): void {
  let total = 0;
  let dangling = 0;
  let example = '';
  for (const k of keys) {
    total++;
    if (!names.has(k)) {
      dangling++;
      if (!example) example = k;
    }
  }
  if (dangling === 0) return;
  if (dangling === total) {
    throw new GradiaInputError(file, `none of its ${total} entries names an image of the ${what} (e.g. ${example}): wrong data directory?`);
  }
  warnings.push(`${file}: ${dangling} of ${total} entries name no image of the ${what} (e.g. ${example}), ignored`);
}

/**
 * Phase 1: the `train` split, no maps, weights (1, 0).
 * Phase 2: `p2_train` when present, else train + val; maps from the validation attention
 * files (val, then update replaces, then remove drops), targets at `grid` x `grid`, weights
 * by reasonability label (GRADIA.py: only images with a map get label weights).
 */
export async function buildTrainSet(dataDir: string, opts: TrainSetOptions): Promise<TrainSet> {
  const root = path.resolve(dataDir);
  const splits: Split[] = opts.phase === 2 ? ['train', 'val', 'test', 'p2_train'] : ['train', 'val', 'test'];
  const scan = scanLayout(root, { splits });
  const warnings = [...scan.warnings];
  let images: ImageEntry[];
  let source: TrainSet['source'];
  if (opts.phase === 1) {
    images = scan.splits.train!.images;
    source = 'train';
  } else if (scan.splits.p2_train) {
    images = scan.splits.p2_train.images;
    source = 'p2_train';
  } else {
    images = [...scan.splits.train!.images, ...scan.splits.val!.images];
    source = 'train+val';
    const seen = new Map<string, string>();
    for (const im of images) {
      const other = seen.get(im.fileName);
      if (other !== undefined) throw new GradiaInputError(im.path, `same file name as ${other}; phase 2 trains on train + val and labels are keyed by file name`);
      seen.set(im.fileName, im.path);
    }
  }
  if (opts.checkImages ?? true) await checkImages(images);

  if (opts.phase === 1) {
    return {
      classes: scan.classes,
      samples: images.map((im) => ({ path: im.path, fileName: im.fileName, label: im.label, target: null, predWeight: 1, attWeight: 0 })),
      warnings: warnings.map(escapeControl),
      source,
    };
  }

  const kind = opts.targets ?? 'gradia';
  if (opts.grid < 3 && kind === 'gradia') {
    warnings.push(`Grad-CAM grid ${opts.grid}x${opts.grid}: OpenCV's 3x3 blur with BORDER_REFLECT_101 makes every target constant there; use an input size of at least 96 px (grid 3) for attention training`);
  }
  // RES's CSV labels alone are enough: then attention_val.json is optional.
  const hasResLabels = resLabelFiles(root).length > 0;
  const jsonAtt = hasResLabels && !fs.existsSync(path.join(root, ATTENTION_FILES.val)) ? null : loadValAttention(root);
  if (jsonAtt) {
    warnings.push(...jsonAtt.warnings);
    const valNames = new Set(scan.splits.val!.images.map((i) => i.fileName));
    checkDangling(jsonAtt.maps.keys(), valNames, path.join(root, ATTENTION_FILES.val), 'validation split', warnings);
  }
  const att = withResLabels(jsonAtt, root)!;
  warnings.push(...att.warnings);
  const valNames = new Set(scan.splits.val!.images.map((i) => i.fileName));
  const reas = readReasonability(root);
  if (reas.file) checkDangling(reas.labels.keys(), valNames, reas.file, 'validation split', warnings);
  if (opts.reasonability) {
    if (!reas.file) throw new GradiaInputError(path.join(root, REASONABILITY_FILE), 'missing, but --reasonability was given (run `gradia-dist assess` first)');
    let dropped = 0;
    for (const [k, l] of reas.labels) if (l === 'Reasonable Accurate' && att.maps.delete(k)) dropped++;
    if (dropped > 0) warnings.push(`--reasonability: ${dropped} 'Reasonable Accurate' map${dropped === 1 ? '' : 's'} dropped`);
  }
  const unlabelled = (im: ImageEntry): TrainSample => ({ path: im.path, fileName: im.fileName, label: im.label, target: null, predWeight: 1, attWeight: 0 });
  const samples: TrainSample[] = images.map((im) => {
    const map = att.maps.get(im.fileName);
    if (!map) return unlabelled(im);
    const file = att.origin.get(im.fileName);
    const target = kind === 'res' ? resTarget(map, opts.grid, im.fileName, warnings, file) : attentionTarget(map, opts.grid, im.fileName, warnings, file);
    if (target === null) return unlabelled(im);
    const s: TrainSample = { path: im.path, fileName: im.fileName, label: im.label, target, ...weightsFor(reas.labels.get(im.fileName)) };
    if (opts.fullMask) s.fullMask = positiveMaskAt(map, opts.grid * 32);
    return s;
  });
  let budget: TrainSet['budget'];
  if (opts.labelBudget) {
    const labelled = samples.flatMap((s, i) => (s.target ? [i] : []));
    const draw = drawLabelBudget(labelled.map((i) => samples[i]!), scan.classes.length, opts.labelBudget);
    labelled.forEach((i, k) => {
      if (!draw.keep.has(k)) samples[i] = unlabelled(images[i]!);
    });
    budget = draw.counts;
    const short = draw.counts.flatMap((c, cls) => (c.available < opts.labelBudget!.perClass ? [`${scan.classes[cls]} has ${c.available}`] : []));
    if (short.length) warnings.push(`--label-budget ${opts.labelBudget.perClass}: ${short.join(', ')}; all of those are kept, so the classes are not balanced`);
  }
  return { classes: scan.classes, samples, warnings: warnings.map(escapeControl), source, ...(budget ? { budget } : {}) };
}

export interface EvalSet {
  classes: string[];
  samples: EvalSample[];
  warnings: string[];
}

function hasAnyPositive(m: AttentionMap): boolean {
  for (let i = 0; i < m.data.length; i++) if (m.data[i] !== 0) return true;
  return false;
}

/**
 * The validation or test split with the human maps for IoU (val: attention_val with
 * update/remove applied; test: attention_test). An all-zero human map is left out of IoU
 * (humanMap null) with a warning naming the file.
 */
export async function buildEvalSet(dataDir: string, split: 'val' | 'test', opts: { checkImages?: boolean } = {}): Promise<EvalSet> {
  const root = path.resolve(dataDir);
  const scan = scanLayout(root, { splits: ['train', split] });
  const warnings = [...scan.warnings];
  const images = scan.splits[split]!.images;
  if (opts.checkImages ?? true) await checkImages(images);
  const hasResLabels = resLabelFiles(root).length > 0;
  const jsonFile = path.join(root, split === 'val' ? ATTENTION_FILES.val : ATTENTION_FILES.test);
  // RES's CSV labels cover every split: then the split's JSON file is optional.
  const jsonAtt = hasResLabels && !fs.existsSync(jsonFile) ? null : split === 'val' ? loadValAttention(root) : loadTestAttention(root);
  if (jsonAtt) warnings.push(...jsonAtt.warnings);
  const names = new Set(images.map((i) => i.fileName));
  if (jsonAtt && jsonAtt.files.length > 0) checkDangling(jsonAtt.maps.keys(), names, jsonAtt.files[0]!, `${split} split`, warnings);
  const att = withResLabels(jsonAtt, root)!;
  warnings.push(...att.warnings);
  const samples: EvalSample[] = images.map((im) => {
    let map = att.maps.get(im.fileName) ?? null;
    if (map && !hasAnyPositive(map)) {
      warnings.push(`${im.fileName}: all-zero human attention map, left out of IoU`);
      map = null;
    }
    return { path: im.path, fileName: im.fileName, label: im.label, humanMap: map };
  });
  return { classes: scan.classes, samples, warnings: warnings.map(escapeControl) }; // one line each, as errors
}

/**
 * A fingerprint of the data set for checkpoint metadata: sha256 (hex, first 16 chars)
 * over the class names, every image's split-relative path, label, size and mtime, and the
 * name, size and mtime of each label file present. Changes when any image or label file
 * is added, removed, renamed, relabelled or rewritten.
 */
export function datasetFingerprint(dataDir: string): string {
  const root = path.resolve(dataDir);
  const splits: Split[] = hasP2Train(root) ? ['train', 'val', 'test', 'p2_train'] : ['train', 'val', 'test'];
  const scan = scanLayout(root, { splits });
  const h = crypto.createHash('sha256');
  h.update(`classes\0${scan.classes.join('\0')}\n`);
  for (const s of splits) {
    const sc = scan.splits[s];
    if (!sc) continue;
    for (const im of sc.images) h.update(`${path.relative(path.join(root, DATA_FOLDER), im.path)}\0${im.label}\0${im.size}\0${Math.round(im.mtimeMs)}\n`);
  }
  for (const f of [...Object.values(ATTENTION_FILES), REASONABILITY_FILE]) {
    const p = path.join(root, f);
    if (!fs.existsSync(p)) continue;
    const st = fs.statSync(p);
    h.update(`${f}\0${st.size}\0${Math.round(st.mtimeMs)}\n`);
  }
  for (const p of resLabelFiles(root)) {
    const st = fs.statSync(p);
    h.update(`${path.relative(root, p)}\0${st.size}\0${Math.round(st.mtimeMs)}\n`);
  }
  return h.digest('hex').slice(0, 16);
}
