/**
 * Reading the review journals without a server (publish, agreement): every annotator's
 * `judgements/<annotator>.jsonl` (src/review/api.ts JournalEvent lines), folded into each
 * annotator's state per image. A torn last line (a crash mid-append) is dropped, a repeated
 * event id counts once, as the server does at start; any other bad line is an error naming
 * the journal and the line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GradiaInputError } from '../util/errors.js';
import { ANNOTATOR_PATTERN, type BinaryMap, type JournalEvent, type Judgement } from './api.js';

/** `<data-dir>/review/<model>`: everything the review step keeps for one model. */
export function reviewDirOf(dataDir: string, modelName: string): string {
  return path.join(path.resolve(dataDir), 'review', modelName);
}

export const JUDGEMENTS_FOLDER = 'judgements';

function isJudgement(v: unknown): v is Judgement | null {
  return v === null || v === 'reasonable' || v === 'unreasonable';
}

function isBinaryMapShape(v: unknown): v is BinaryMap | null {
  if (v === null) return true;
  const m = v as BinaryMap;
  return typeof m === 'object' && Number.isInteger(m.h) && Number.isInteger(m.w) && m.h > 0 && m.w > 0 && typeof m.bits === 'string';
}

/** What is wrong with a parsed journal line, or null when it is a JournalEvent. */
function eventProblem(v: unknown): string | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
  const e = v as Partial<JournalEvent>;
  if (typeof e.id !== 'string' || e.id === '') return 'no event "id"';
  if (!Number.isInteger(e.seq) || e.seq! < 1) return '"seq" is not a positive integer';
  if (!Number.isInteger(e.index) || e.index! < 0) return '"index" is not an image index';
  if (typeof e.image !== 'string' || e.image === '') return 'no "image" file name';
  const val = e.value as JournalEvent['value'] | undefined;
  if (!val || typeof val !== 'object') return 'no "value"';
  if (val.kind === 'judge') return isJudgement(val.judgement) ? null : `unknown judgement ${JSON.stringify(val.judgement)}`;
  if (val.kind === 'remove') return typeof val.removed === 'boolean' ? null : '"removed" is not true/false';
  if (val.kind === 'map') return isBinaryMapShape(val.map) ? null : '"map" is not {h, w, bits}';
  return `unknown event kind ${JSON.stringify((val as { kind?: unknown }).kind)}`;
}

export interface JournalRead {
  file: string;
  events: JournalEvent[];
  /** a torn last line was dropped */
  torn: boolean;
}

/** One annotator's journal, in file order, duplicates (same id) dropped. */
export function readJournalFile(file: string): JournalRead {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new GradiaInputError(file, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const lines = text.split('\n');
  // A complete line ends in '\n'; whatever follows the last '\n' is a torn append.
  const tail = lines.pop()!;
  const torn = tail.trim() !== '';
  const seen = new Set<string>();
  const events: JournalEvent[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new GradiaInputError(file, `line ${i + 1} is not JSON (the journal is damaged; only a torn last line is dropped)`);
    }
    const problem = eventProblem(v);
    if (problem) throw new GradiaInputError(file, `line ${i + 1}: ${problem}`);
    const e = v as JournalEvent;
    if (seen.has(e.id)) return;
    seen.add(e.id);
    events.push(e);
  });
  return { file, events, torn };
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
  map: BinaryMap | null;
  /** whether a remove / map event was ever recorded (an adjudicator's word counts only then) */
  removeGiven: boolean;
  mapGiven: boolean;
  /** sequence numbers of the events folded into this state */
  seqs: number[];
}

/** Folds one journal (in sequence order) into the state of each image, keyed by file name. */
export function foldJournal(events: JournalEvent[]): Map<string, FoldedItem> {
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

/** A BinaryMap's pixels (0/1 bytes), checked: the right length and only 0 or 1. */
export function decodeBinaryMap(m: BinaryMap, where: { file: string; image: string }): Uint8Array {
  const bytes = Buffer.from(m.bits, 'base64');
  if (bytes.length !== m.h * m.w) throw new GradiaInputError(where.file, `${where.image}: map holds ${bytes.length} pixels, ${m.h}x${m.w} needs ${m.h * m.w}`);
  for (const b of bytes) if (b !== 0 && b !== 1) throw new GradiaInputError(where.file, `${where.image}: map pixel value ${b}, expected 0 or 1`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}
