/**
 * Reading the review journals without a server (publish, agreement): every annotator's
 * `judgements/<annotator>.jsonl`, read by the server's own reader (journal.ts: a torn last
 * line is dropped, any other bad line is an error naming the journal and the line), and
 * folded per image file name with what publish records beside its state: whether a
 * removal or a map was ever given, and the sequence numbers behind it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GradiaInputError } from '../util/errors.js';
import { ANNOTATOR_PATTERN, type LabelMap, type JournalEvent, type Judgement } from './api.js';
import { readJournal } from './journal.js';
import { labelMapToMask } from './raster.js';

/** `<data-dir>/review/<model>`: everything the review step keeps for one model. */
export function reviewDirOf(dataDir: string, modelName: string): string {
  return path.join(path.resolve(dataDir), 'review', modelName);
}

export const JUDGEMENTS_FOLDER = 'judgements';

export interface JournalRead {
  file: string;
  events: JournalEvent[];
  /** a torn last line was dropped */
  torn: boolean;
}

/** One annotator's journal (the server's reader: journal.ts), in file order, repeated ids once. */
export function readJournalFile(file: string): JournalRead {
  const read = readJournal(file);
  const seen = new Set<string>();
  const events = read.events.filter((e) => !seen.has(e.id) && seen.add(e.id));
  return { file, events, torn: read.tornBytes > 0 };
}

/** Every annotator's journal under `<reviewDir>/judgements/`, by annotator id (sorted). */
export function readAllJournals(reviewDir: string): Map<string, JournalRead> {
  const dir = path.join(reviewDir, JUDGEMENTS_FOLDER);
  const out = new Map<string, JournalRead>();
  if (!fs.existsSync(dir)) return out;
  const names = fs.readdirSync(dir).filter((n) => n.endsWith('.jsonl')).sort();
  for (const n of names) {
    const annotator = n.slice(0, -'.jsonl'.length);
    if (!ANNOTATOR_PATTERN.test(annotator)) continue; // not a journal the server writes
    out.set(annotator, readJournalFile(path.join(dir, n)));
  }
  return out;
}

/** One annotator's state of one image, and the journal events behind it. */
export interface FoldedItem {
  index: number;
  image: string;
  revision: number;
  judgement: Judgement | null;
  removed: boolean;
  map: LabelMap | null;
  /** whether a remove / map event was ever recorded (an adjudicator's word counts only then) */
  removeGiven: boolean;
  mapGiven: boolean;
  /** sequence numbers of the events folded into this state */
  seqs: number[];
}

/** Folds one journal (in sequence order) into the state of each image, keyed by file name. */
export function foldByImage(events: JournalEvent[]): Map<string, FoldedItem> {
  const out = new Map<string, FoldedItem>();
  for (const e of [...events].sort((a, b) => a.seq - b.seq)) {
    let it = out.get(e.image);
    if (!it) {
      it = { index: e.index, image: e.image, revision: 0, judgement: null, removed: false, map: null, removeGiven: false, mapGiven: false, seqs: [] };
      out.set(e.image, it);
    }
    it.revision++;
    it.seqs.push(e.seq);
    const v = e.value;
    if (v.kind === 'judge') it.judgement = v.judgement;
    else if (v.kind === 'remove') {
      it.removed = v.removed;
      it.removeGiven = true;
    } else {
      it.map = v.map;
      it.mapGiven = v.map !== null;
    }
  }
  return out;
}

/** A LabelMap's pixels (MapLabel bytes): readJournal has already checked them (h*w bytes of 0, 1 or 2). */
export function decodeLabelMap(m: LabelMap, where: { file: string; image: string }): Uint8Array {
  const mask = labelMapToMask(m);
  if (!mask) throw new GradiaInputError(where.file, `${where.image}: map bits are not ${m.h}x${m.w} bytes of 0, 1 or 2`);
  return mask.data;
}
