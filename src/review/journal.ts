/**
 * One annotator's append-only journal (`judgements/<annotator>.jsonl`, one JournalEvent per
 * line) and its fold into an ItemState per image. Every accepted event is written and
 * fsynced before it is acknowledged; at open, a torn last line (a write cut short by a
 * crash: no newline at the end) is cut off, and events whose id was seen before are
 * skipped, so replaying an outbox twice changes nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GradiaInputError } from '../util/errors.js';
import { appendLineSynced } from '../util/synced_write.js';
import { ANNOTATOR_PATTERN, type ItemState, type JournalEvent, type ReviewEventRequest, type ReviewEventValue } from './api.js';
import { labelMapToMask } from './raster.js';

export const emptyItemState = (): ItemState => ({ revision: 0, judgement: null, removed: false, map: null });

/** The state after one event: its value applied, the revision one higher. */
export function applyEvent(state: ItemState, value: ReviewEventValue): ItemState {
  const next: ItemState = { ...state, revision: state.revision + 1 };
  if (value.kind === 'judge') next.judgement = value.judgement;
  else if (value.kind === 'remove') next.removed = value.removed;
  else next.map = value.map;
  return next;
}

/** Why a value or request is not a well-formed event (null when it is). */
export function eventProblem(e: unknown): string | null {
  if (!e || typeof e !== 'object') return 'not an object';
  const r = e as Partial<ReviewEventRequest>;
  if (typeof r.id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(r.id)) return '"id" must be 1-64 letters, digits, - or _';
  if (!Number.isInteger(r.index) || r.index! < 0) return '"index" must be a whole number';
  if (!Number.isInteger(r.baseRevision) || r.baseRevision! < 0) return '"baseRevision" must be a whole number';
  const v = r.value as Partial<ReviewEventValue> | undefined;
  if (!v || typeof v !== 'object') return '"value" missing';
  switch (v.kind) {
    case 'judge': {
      const j = (v as { judgement?: unknown }).judgement;
      return j === 'reasonable' || j === 'unreasonable' || j === null ? null : 'judgement must be "reasonable", "unreasonable" or null';
    }
    case 'remove':
      return typeof (v as { removed?: unknown }).removed === 'boolean' ? null : '"removed" must be true or false';
    case 'map': {
      const m = (v as { map?: unknown }).map;
      if (m === null) return null;
      if (!m || typeof m !== 'object' || typeof (m as { bits?: unknown }).bits !== 'string') return '"map" must be {h, w, bits} or null';
      return labelMapToMask(m as { h: number; w: number; bits: string }) ? null : '"map" bits are not h*w bytes of 0, 1 or 2';
    }
    default:
      return '"value.kind" must be judge, remove or map';
  }
}

/** The journal file of an annotator under a review folder; the name is checked first. */
export function journalFile(reviewDir: string, annotator: string): string {
  if (!ANNOTATOR_PATTERN.test(annotator)) throw new GradiaInputError(null, `annotator ${JSON.stringify(annotator)}: use 1-32 letters, digits, '.', '_' or '-'`);
  return path.join(reviewDir, 'judgements', `${annotator}.jsonl`);
}

export interface JournalRead {
  events: JournalEvent[];
  /** bytes of a torn last line (0 when the file ends with a newline) */
  tornBytes: number;
  /** length of the intact part */
  intactBytes: number;
}

/**
 * Reads a journal: every complete line must be an event (else an error naming the file
 * and line); a last line without its newline is torn and not returned.
 */
export function readJournal(file: string): JournalRead {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { events: [], tornBytes: 0, intactBytes: 0 };
    throw e;
  }
  const end = text.lastIndexOf('\n') + 1;
  const intact = text.slice(0, end);
  const events: JournalEvent[] = [];
  const lines = intact.split('\n');
  lines.pop(); // after the last newline
  lines.forEach((line, i) => {
    let ev: JournalEvent;
    try {
      ev = JSON.parse(line) as JournalEvent;
    } catch {
      throw new GradiaInputError(file, `line ${i + 1} is not JSON (a journal line is only ever appended whole; was the file edited?)`);
    }
    const problem = eventProblem(ev) ?? (Number.isInteger(ev.seq) && typeof ev.time === 'string' && typeof ev.image === 'string' ? null : 'no seq, time or image');
    if (problem) throw new GradiaInputError(file, `line ${i + 1} is not a journal event: ${problem}`);
    events.push(ev);
  });
  return { events, tornBytes: Buffer.byteLength(text.slice(end)), intactBytes: Buffer.byteLength(intact) };
}

export interface JournalFold {
  states: Map<number, ItemState>;
  /** event id -> the seq it was saved with */
  ids: Map<string, number>;
  seq: number;
}

/** Folds events in order into per-image states; a repeated event id is skipped. */
export function foldJournal(events: Iterable<JournalEvent>): JournalFold {
  const states = new Map<number, ItemState>();
  const ids = new Map<string, number>();
  let seq = 0;
  for (const e of events) {
    if (ids.has(e.id)) continue;
    ids.set(e.id, e.seq);
    seq = Math.max(seq, e.seq);
    states.set(e.index, applyEvent(states.get(e.index) ?? emptyItemState(), e.value));
  }
  return { states, ids, seq };
}

export type AppendResult =
  | { kind: 'saved'; seq: number; state: ItemState; event: JournalEvent }
  | { kind: 'duplicate'; seq: number; state: ItemState }
  | { kind: 'conflict'; state: ItemState };

/** An open journal: the fold in memory, appends fsynced before they count. */
export class JournalStore {
  private constructor(
    readonly file: string,
    readonly annotator: string,
    private fd: number,
    private readonly fold: JournalFold,
  ) {}

  /**
   * Opens (creating) the journal of `annotator` under `reviewDir`; a torn last line is cut
   * off (`log` says so).
   */
  static open(reviewDir: string, annotator: string, log: (line: string) => void = () => {}): JournalStore {
    const file = journalFile(reviewDir, annotator);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const read = readJournal(file);
    if (read.tornBytes > 0) {
      fs.truncateSync(file, read.intactBytes);
      log(`${file}: dropped a torn last line (${read.tornBytes} bytes of an event that was never acknowledged)`);
    }
    const fd = fs.openSync(file, 'a');
    if (read.tornBytes > 0) fs.fsyncSync(fd);
    return new JournalStore(file, annotator, fd, foldJournal(read.events));
  }

  state(index: number): ItemState {
    return this.fold.states.get(index) ?? emptyItemState();
  }

  /** Images this annotator has touched, with their states. */
  states(): ReadonlyMap<number, ItemState> {
    return this.fold.states;
  }

  /**
   * Appends an event unless its id was saved before (answered as saved, nothing written)
   * or its base revision is not the image's current one (a conflict: nothing written).
   * Returns only after the line is on disk (fsync).
   */
  append(req: ReviewEventRequest, image: string, now: Date = new Date()): AppendResult {
    const seen = this.fold.ids.get(req.id);
    if (seen !== undefined) return { kind: 'duplicate', seq: seen, state: this.state(req.index) };
    const current = this.state(req.index);
    if (req.baseRevision !== current.revision) return { kind: 'conflict', state: current };
    const event: JournalEvent = { id: req.id, seq: this.fold.seq + 1, time: now.toISOString(), index: req.index, image, baseRevision: req.baseRevision, value: req.value };
    appendLineSynced(this.fd, JSON.stringify(event));
    this.fold.seq = event.seq;
    this.fold.ids.set(event.id, event.seq);
    const state = applyEvent(current, req.value);
    this.fold.states.set(req.index, state);
    return { kind: 'saved', seq: event.seq, state, event };
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}
