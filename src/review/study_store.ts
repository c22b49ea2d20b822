/**
 * The blind study's answers: one append-only, fsynced journal per annotator
 * (`<data-dir>/review/study/<annotator>.jsonl`, StudyJournalEvent lines), and the exports:
 * one CSV per annotator in the original FrontEndUIs columns (pandas' unnamed index,
 * `img_idx, a_1..a_K, b_1..b_K, c_1..c_K, rnd_order`; a = "captures the necessary details",
 * b = "includes unnecessary details", c = the 1-5 rating, k = the model's number in
 * --models order; rnd_order = "[0, ...]": the raw image, then the model numbers in the
 * order they were shown) and one JSON with model ids, annotators and response times.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GradiaInputError } from '../util/errors.js';
import { atomicWrite } from '../model/safetensors.js';
import { FileWriteError } from '../util/fs_errors.js';
import { appendLineSynced } from '../util/synced_write.js';
import { ANNOTATOR_PATTERN, type StudyAnswer, type StudyJournalEvent } from './api.js';
import type { StudyAnswersByKey } from './agreement.js';
import { slotOrder, type StudyPlan } from './study_plan.js';

export function studyDirOf(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'review', 'study');
}

function isAnswer(a: unknown): a is StudyAnswer {
  const s = a as StudyAnswer;
  return typeof s === 'object' && s !== null && typeof s.necessary === 'boolean' && typeof s.unnecessary === 'boolean' && [1, 2, 3, 4, 5].includes(s.rating);
}

/** What is wrong with a study answer for `plan` (null: fine). */
export function answerProblem(plan: StudyPlan, item: unknown, answers: unknown): string | null {
  if (!Number.isInteger(item) || (item as number) < 0 || (item as number) >= plan.images.length) return 'no such study item';
  if (!Array.isArray(answers) || answers.length !== plan.models.length) return `expected ${plan.models.length} answers, one per picture`;
  if (!answers.every(isAnswer)) return 'every picture needs both yes/no answers and a rating 1-5';
  return null;
}

export interface StudyJournal {
  file: string;
  events: StudyJournalEvent[];
  /** bytes of the complete lines (a torn tail beyond them is not an answer) */
  intactBytes: number;
  torn: boolean;
}

/** One annotator's study journal (torn last line dropped, repeated ids once, the last answer per item wins). */
export function readStudyJournal(file: string): StudyJournal {
  if (!fs.existsSync(file)) return { file, events: [], intactBytes: 0, torn: false };
  const text = fs.readFileSync(file, 'utf8');
  const end = text.lastIndexOf('\n') + 1;
  const lines = text.slice(0, end).split('\n');
  lines.pop(); // '' after the last '\n'; what follows it is a torn append
  const seen = new Set<string>();
  const events: StudyJournalEvent[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let e: StudyJournalEvent;
    try {
      e = JSON.parse(line) as StudyJournalEvent;
    } catch {
      throw new GradiaInputError(file, `line ${i + 1} is not JSON (the journal is damaged; only a torn last line is dropped)`);
    }
    if (typeof e.id !== 'string' || !Number.isInteger(e.item) || !Array.isArray(e.answers) || !Array.isArray(e.order) || !e.answers.every(isAnswer)) {
      throw new GradiaInputError(file, `line ${i + 1}: not a study answer`);
    }
    if (seen.has(e.id)) return;
    seen.add(e.id);
    events.push(e);
  });
  return { file, events, intactBytes: Buffer.byteLength(text.slice(0, end)), torn: end < text.length };
}

/** Every annotator's study journal in `studyDir`, by annotator (sorted). */
export function readStudyJournals(studyDir: string): Map<string, StudyJournal> {
  const out = new Map<string, StudyJournal>();
  if (!fs.existsSync(studyDir)) return out;
  for (const n of fs.readdirSync(studyDir).filter((f) => f.endsWith('.jsonl')).sort()) {
    const a = n.slice(0, -'.jsonl'.length);
    if (ANNOTATOR_PATTERN.test(a)) out.set(a, readStudyJournal(path.join(studyDir, n)));
  }
  return out;
}

/** Latest answer per item of one journal. */
export function latestByItem(j: StudyJournal): Map<number, StudyJournalEvent> {
  const m = new Map<number, StudyJournalEvent>();
  for (const e of j.events) m.set(e.item, e);
  return m;
}

/** Appends one line and fsyncs it before returning (the page shows "saved" only after). */
export function appendStudyEvent(file: string, e: StudyJournalEvent): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const fd = fs.openSync(file, 'a');
    try {
      appendLineSynced(fd, JSON.stringify(e));
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    throw new FileWriteError(file, err);
  }
}

/** Answers un-shuffled to model order: answersByModel[m] is model m's answer. */
export function unshuffle(e: Pick<StudyJournalEvent, 'answers' | 'order'>): StudyAnswer[] {
  const out: StudyAnswer[] = new Array(e.order.length);
  e.order.forEach((model, k) => { out[model] = e.answers[k]!; });
  return out;
}

/** For agreement: each annotator's answers keyed by image and model name. */
export function studyAnswersByKey(plan: StudyPlan, journals: Map<string, StudyJournal>): Map<string, StudyAnswersByKey> {
  const out = new Map<string, StudyAnswersByKey>();
  for (const [a, j] of journals) {
    const m: StudyAnswersByKey = new Map();
    for (const e of latestByItem(j).values()) unshuffle(e).forEach((ans, model) => m.set(`${plan.images[e.item]}\0${plan.models[model]}`, ans));
    out.set(a, m);
  }
  return out;
}

const stem = (file: string): string => file.replace(/\.[^.]*$/, '');

/** The original's results CSV for one annotator (every study image; unanswered cells empty). */
export function studyCsv(plan: StudyPlan, answered: Map<number, StudyJournalEvent>, order: (item: number) => number[]): string {
  const K = plan.models.length;
  const ks = plan.models.map((_, m) => m + 1);
  const header = ['', 'img_idx', ...ks.map((k) => `a_${k}`), ...ks.map((k) => `b_${k}`), ...ks.map((k) => `c_${k}`), 'rnd_order'];
  const rows = [header.join(',')];
  plan.images.forEach((img, item) => {
    const e = answered.get(item);
    const shown = e ? e.order : order(item);
    const rnd = `"[${[0, ...shown.map((m) => m + 1)].join(', ')}]"`;
    const cells = e ? unshuffle(e) : null;
    const col = (f: (a: StudyAnswer) => string): string[] => (cells ? cells.map(f) : new Array<string>(K).fill(''));
    const name = stem(img);
    const quoted = /[",\n]/.test(name) ? `"${name.replace(/"/g, '""')}"` : name;
    rows.push([String(item), quoted, ...col((a) => (a.necessary ? 'True' : 'False')), ...col((a) => (a.unnecessary ? 'True' : 'False')), ...col((a) => String(a.rating)), rnd].join(','));
  });
  return `${rows.join('\n')}\n`;
}

export interface StudyExport {
  csv: Record<string, string>;
  json: string;
  progress: Record<string, { answered: number; of: number }>;
}

/** Writes `results_<annotator>.csv` per annotator and `results.json` into `studyDir`. */
export function exportStudy(studyDir: string, plan: StudyPlan): StudyExport {
  const order = (item: number): number[] => slotOrder(plan, item);
  const journals = readStudyJournals(studyDir);
  const csv: Record<string, string> = {};
  const progress: Record<string, { answered: number; of: number }> = {};
  const answers: unknown[] = [];
  for (const [a, j] of journals) {
    const latest = latestByItem(j);
    const file = path.join(studyDir, `results_${a}.csv`);
    atomicWrite(file, Buffer.from(studyCsv(plan, latest, order)));
    csv[a] = file;
    progress[a] = { answered: latest.size, of: plan.images.length };
    for (const e of [...latest.values()].sort((x, y) => x.item - y.item)) {
      unshuffle(e).forEach((ans, m) => answers.push({ annotator: a, img: plan.images[e.item], item: e.item, model: plan.models[m], modelNumber: m + 1, slot: e.order.indexOf(m) + 1, ...ans, ms: e.ms, time: e.time }));
    }
  }
  const json = path.join(studyDir, 'results.json');
  atomicWrite(json, Buffer.from(`${JSON.stringify({
    format: 'gradia-dist-review-study-results/1', split: plan.split,
    models: plan.models.map((name, m) => ({ number: m + 1, name })),
    annotators: Object.entries(progress).map(([name, p]) => ({ name, ...p })),
    images: plan.images.map((img, item) => ({ item, img, rnd_order: [0, ...order(item).map((m) => m + 1)] })),
    answers,
  }, null, 1)}\n`));
  return { csv, json, progress };
}
