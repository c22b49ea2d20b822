/**
 * `review --publish`: the annotators' journals, merged, become the three label files phase 2
 * reads, in the original formats:
 *   reasonablity_val.json      { "<file>": "<Reasonable|Unreasonable> <Accurate|Inaccurate>" }
 *                              exactly the judged images (the previous file is kept in a backup)
 *   attention_val_update.json  [{ "img", "attention": [[0,1,-1,...],...] }]: the previous entries,
 *                              with every redrawn map replacing or adding its image's entry
 *                              (1 look here, -1 do not look here, as in docs/labels.md)
 *   attention_val_remove.json  [{ "img" }]: the previous entries plus every removed image that
 *                              has a map (the original crashes on a name without one)
 * They are staged in a folder beside a link to the images and read back by the trainer's
 * own loader (phase 2 with --reasonability) before anything is replaced; then each is
 * renamed into the data dir (fsynced first), and `review/<model>/published.json` — the rule
 * and the journal events behind every entry — is written last.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { matrixOf } from '../data/assess.js';
import { ATTENTION_FILES, attentionTarget, keyOf, loadValAttention, readAttentionFile } from '../data/attention.js';
import { DATA_FOLDER } from '../data/layout.js';
import { buildEvalSet, buildTrainSet } from '../data/phase_dataset.js';
import { labelOf, readReasonability, REASONABILITY_FILE, weightsFor, type ReasonabilityLabel } from '../data/reasonability.js';
import type { EvalSample } from '../data/types.js';
import { atomicWrite } from '../model/safetensors.js';
import { GradiaInputError } from '../util/errors.js';
import { FileWriteError } from '../util/fs_errors.js';
import { fsyncDir, writeFileSynced } from '../util/synced_write.js';
import { foldByImage, readAllJournals, reviewDirOf } from './journal_read.js';
import { describeRule, mergeReview, type AnnotatorStates, type MergedItem, type MergeRule, type Provenance } from './merge.js';
import { keepFirstSeen } from './first_seen.js';
import { mapRows, toAttentionMap } from './raster.js';

export const PUBLISHED_MANIFEST = 'published.json';
export const PUBLISH_FORMAT = 'gradia-dist-review-publish/1';

export interface PublishOptions {
  dataDir: string;
  modelName: string;
  rule: MergeRule;
  /** Grad-CAM grid of the model (input size / 32): phase 2's targets are checked at it */
  grid: number;
  /** the checkpoint whose predictions decide accurate / inaccurate */
  checkpointId: string;
  /** the model's predicted class of each sample, in order (classes: the validation set's, to check the model against) */
  predict: (samples: EvalSample[], classes: string[]) => Promise<number[]>;
  now?: () => Date;
}

export interface PublishedEntry {
  img: string;
  judgement: MergedItem['judgement'];
  votes: MergedItem['votes'];
  judgementBy: Provenance | null;
  label: ReasonabilityLabel | null;
  truth: number;
  pred: number | null;
  weights: { predWeight: number; attWeight: number } | null;
  removed: boolean;
  removedBy: Provenance | null;
  /** what happened to a removal: written to the remove file, or skipped because the image has no map */
  removal: 'written' | 'no-map' | null;
  map: { h: number; w: number; by: Provenance } | null;
  events: Record<string, number[]>;
}

export interface PublishResult {
  files: { reasonability: string; update: string; remove: string; manifest: string };
  backup: string | null;
  entries: PublishedEntry[];
  counts: { judged: number; maps: number; removed: number; removedWithoutMap: number; annotators: number };
  matrix: [[number, number], [number, number]];
  warnings: string[];
}

/** A previous label file's entries as written (absent file: none); loadValAttention has checked it. */
function previousEntries(file: string): unknown[] {
  if (!fs.existsSync(file)) return [];
  return JSON.parse(fs.readFileSync(file, 'utf8').replace(/^\ufeff/, '')) as unknown[];
}

const entryKey = (e: unknown): string => keyOf(typeof e === 'string' ? e : (e as { img: string }).img);

/** Images with a map in attention_val.json or the update file (before the remove file applies). */
function namesWithMaps(root: string): Set<string> {
  const names = new Set(readAttentionFile(path.join(root, ATTENTION_FILES.val)).keys());
  const upd = path.join(root, ATTENTION_FILES.valUpdate);
  if (fs.existsSync(upd)) for (const k of readAttentionFile(upd).keys()) names.add(k);
  return names;
}

/** One entry per line: a diff shows which images changed. */
function listJson(entries: unknown[]): string {
  return entries.length ? `[\n${entries.map((e) => JSON.stringify(e)).join(',\n')}\n]\n` : '[]\n';
}

const sha256 = (text: string): string => crypto.createHash('sha256').update(text).digest('hex');

/** Merge, check with the trainer's readers, and write the phase-2 label files. */
export async function publishReview(opts: PublishOptions): Promise<PublishResult> {
  const root = path.resolve(opts.dataDir);
  const reviewDir = reviewDirOf(root, opts.modelName);
  const journals = readAllJournals(reviewDir);
  const warnings: string[] = [];
  for (const j of journals.values()) if (j.torn) warnings.push(`${j.file}: torn last line dropped (an interrupted save)`);
  const states: AnnotatorStates[] = [...journals].map(([annotator, j]) => ({ annotator, file: j.file, items: foldByImage(j.events) }));
  const merged = mergeReview(states, opts.rule).filter((m) => m.judgement !== null || m.removed || m.map !== null);
  if (merged.length === 0) {
    throw new GradiaInputError(path.join(reviewDir, 'judgements'), states.length ? 'no judgement, removal or redrawn map in any journal: nothing to publish' : 'no journals: nobody has reviewed this model yet (run `gradia-dist review` first)');
  }

  // The validation split as phase 2 sees it, and the maps in force before this publish.
  const val = await buildEvalSet(root, 'val', { checkImages: false });
  const byName = new Map(val.samples.map((s) => [s.fileName, s]));
  loadValAttention(root); // the current label files must read before anything is merged into them
  const mapped = namesWithMaps(root);
  const unknown = merged.filter((m) => !byName.has(m.image));
  if (unknown.length) {
    const where = states.find((s) => s.items.has(unknown[0]!.image))!.file;
    throw new GradiaInputError(where, `${unknown[0]!.image} is not a validation image of ${root}${unknown.length > 1 ? ` (and ${unknown.length - 1} more)` : ''}: wrong --data-dir or --model-name?`);
  }

  const judged = merged.filter((m) => m.judgement !== null);
  const preds = judged.length ? await opts.predict(judged.map((m) => byName.get(m.image)!), val.classes) : [];
  if (preds.length !== judged.length) throw new Error(`publish: ${preds.length} predictions for ${judged.length} images`);
  const predOf = new Map(judged.map((m, i) => [m.image, preds[i]!]));

  const labels: Record<string, ReasonabilityLabel> = {};
  const entries: PublishedEntry[] = merged.map((m) => {
    const truth = byName.get(m.image)!.label;
    const pred = predOf.get(m.image) ?? null;
    const label = m.judgement !== null ? labelOf(m.judgement === 'reasonable', pred === truth) : null;
    if (label) labels[m.image] = label;
    const removal = m.removed ? (mapped.has(m.image) ? 'written' : 'no-map') : null;
    return {
      img: m.image, judgement: m.judgement, votes: m.votes, judgementBy: m.judgementBy, label, truth, pred,
      weights: label ? weightsFor(label) : null,
      removed: m.removed, removedBy: m.removedBy, removal,
      map: m.map && m.mapBy && !m.removed ? { h: m.map.h, w: m.map.w, by: m.mapBy } : null,
      events: m.events,
    };
  });
  const noMap = entries.filter((e) => e.removal === 'no-map');
  if (noMap.length) warnings.push(`${noMap.length} removed image${noMap.length === 1 ? ' has' : 's have'} no human map, so phase 2 cannot drop ${noMap.length === 1 ? 'it' : 'them'} through ${ATTENTION_FILES.valRemove} (e.g. ${noMap[0]!.img})`);

  // The three files' text.
  const redrawn = merged.filter((m) => m.map !== null && !m.removed);
  const redrawnNames = new Set(redrawn.map((m) => m.image));
  const updateEntries = [
    ...previousEntries(path.join(root, ATTENTION_FILES.valUpdate)).filter((e) => !redrawnNames.has(entryKey(e))),
    ...redrawn.map((m) => ({ img: m.image, attention: mapRows(m.map!) })),
  ];
  const prevRemove = previousEntries(path.join(root, ATTENTION_FILES.valRemove));
  const prevRemoved = new Set(prevRemove.map(entryKey));
  const removeEntries = [...prevRemove, ...entries.filter((e) => e.removal === 'written' && !prevRemoved.has(e.img)).map((e) => ({ img: e.img }))];
  const texts: Record<string, string> = {
    [REASONABILITY_FILE]: `${JSON.stringify(labels, null, 1)}\n`,
    [ATTENTION_FILES.valUpdate]: listJson(updateEntries),
    [ATTENTION_FILES.valRemove]: listJson(removeEntries),
  };

  // Stage and read back with the trainer's own code.
  const staging = path.join(reviewDir, `.publish-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    try {
      fs.mkdirSync(staging, { recursive: true });
      fs.symlinkSync(path.join(root, DATA_FOLDER), path.join(staging, DATA_FOLDER), 'dir');
      fs.copyFileSync(path.join(root, ATTENTION_FILES.val), path.join(staging, ATTENTION_FILES.val));
    } catch (e) {
      throw new FileWriteError(staging, e);
    }
    for (const [name, text] of Object.entries(texts)) writeFileSynced(path.join(staging, name), text);
    try {
      readReasonability(staging);
      readAttentionFile(path.join(staging, ATTENTION_FILES.valUpdate));
      readAttentionFile(path.join(staging, ATTENTION_FILES.valRemove), { mapsRequired: false });
      for (const m of redrawn) attentionTarget(toAttentionMap(m.map!), opts.grid, m.image, warnings, path.join(root, ATTENTION_FILES.valUpdate));
      const train = await buildTrainSet(staging, { phase: 2, reasonability: true, grid: opts.grid, checkImages: false });
      // what `train --phase 2 --reasonability` will report about these files
      for (const w of train.warnings) if (!warnings.includes(w)) warnings.push(`phase 2 will say: ${w.split(staging).join(root)}`);
    } catch (e) {
      if (!(e instanceof GradiaInputError)) throw e;
      const file = e.file?.startsWith(staging) ? root + e.file.slice(staging.length) : e.file;
      throw new GradiaInputError(file, `${e.problem} (the trainer would reject the published files; nothing was written)`);
    }

    // Keep what is replaced (and, the first time, the labels as first seen), then rename the
    // staged files into place; the manifest last.
    keepFirstSeen(root, reviewDir, opts.now?.());
    const stamp = (opts.now?.() ?? new Date()).toISOString().replace(/[:.]/g, '-');
    let backup: string | null = null;
    for (const name of Object.keys(texts)) {
      const f = path.join(root, name);
      if (!fs.existsSync(f)) continue;
      backup ??= path.join(reviewDir, 'published', `before-${stamp}`);
      try {
        fs.mkdirSync(backup, { recursive: true });
        fs.copyFileSync(f, path.join(backup, name));
      } catch (e) {
        throw new FileWriteError(path.join(backup, name), e);
      }
    }
    for (const name of Object.keys(texts)) {
      try {
        fs.renameSync(path.join(staging, name), path.join(root, name));
      } catch (e) {
        throw new FileWriteError(path.join(root, name), e);
      }
    }
    fsyncDir(root);
    const matrix = matrixOf(Object.values(labels));
    const manifest = path.join(reviewDir, PUBLISHED_MANIFEST);
    const counts = {
      judged: judged.length, maps: redrawn.length, removed: entries.filter((e) => e.removal === 'written').length,
      removedWithoutMap: noMap.length, annotators: states.length,
    };
    atomicWrite(manifest, Buffer.from(`${JSON.stringify({
      format: PUBLISH_FORMAT, time: (opts.now?.() ?? new Date()).toISOString(), model: opts.modelName, checkpoint: opts.checkpointId,
      rule: opts.rule, ruleText: describeRule(opts.rule), grid: opts.grid, annotators: states.map((s) => s.annotator),
      files: Object.fromEntries(Object.entries(texts).map(([n, t]) => [n, { path: path.join(root, n), sha256: sha256(t) }])),
      backup, counts, matrix, entries, warnings,
    }, null, 1)}\n`));
    return {
      files: { reasonability: path.join(root, REASONABILITY_FILE), update: path.join(root, ATTENTION_FILES.valUpdate), remove: path.join(root, ATTENTION_FILES.valRemove), manifest },
      backup, entries, counts, matrix, warnings,
    };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}
