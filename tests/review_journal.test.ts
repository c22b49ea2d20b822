// The annotator journal: append + fsync, fold per image, torn last line, duplicate ids, conflicts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JournalEvent, ReviewEventRequest } from '../src/review/api.js';
import { foldJournal, journalFile, JournalStore, readJournal } from '../src/review/journal.js';
import { GradiaInputError } from '../src/util/errors.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });
const tmp = () => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'review-journal-')); dirs.push(d); return d; };

const judge = (id: string, index: number, baseRevision: number, j: 'reasonable' | 'unreasonable' | null): ReviewEventRequest => ({ id, index, baseRevision, value: { kind: 'judge', judgement: j } });

describe('JournalStore', () => {
  it('appends one JSON line per event, folds them per image and reads them back after a reopen', () => {
    const dir = tmp();
    const j = JournalStore.open(dir, 'ann');
    expect(j.append(judge('e1', 3, 0, 'reasonable'), 'a.png').kind).toBe('saved');
    expect(j.append({ id: 'e2', index: 3, baseRevision: 1, value: { kind: 'remove', removed: true } }, 'a.png').kind).toBe('saved');
    const r = j.append(judge('e3', 5, 0, 'unreasonable'), 'b.png');
    expect(r).toMatchObject({ kind: 'saved', seq: 3, state: { revision: 1, judgement: 'unreasonable', removed: false, map: null } });
    j.close();
    const lines = fs.readFileSync(path.join(dir, 'judgements', 'ann.jsonl'), 'utf8').split('\n');
    expect(lines.length).toBe(4); // three events and the final newline
    expect(JSON.parse(lines[1]!)).toMatchObject({ id: 'e2', seq: 2, index: 3, image: 'a.png', baseRevision: 1, value: { kind: 'remove', removed: true } });
    const again = JournalStore.open(dir, 'ann');
    expect(again.state(3)).toEqual({ revision: 2, judgement: 'reasonable', removed: true, map: null });
    expect(again.state(5).judgement).toBe('unreasonable');
    expect(again.state(0)).toEqual({ revision: 0, judgement: null, removed: false, map: null });
    // the sequence continues after a reopen
    expect(again.append(judge('e4', 0, 0, 'reasonable'), 'c.png')).toMatchObject({ kind: 'saved', seq: 4 });
    again.close();
  });

  it('refuses a stale base revision (conflict: nothing written) and answers a repeated id as saved without writing it again', () => {
    const dir = tmp();
    const j = JournalStore.open(dir, 'ann');
    j.append(judge('a', 1, 0, 'reasonable'), 'x.png');
    const size = fs.statSync(j.file).size;
    const c = j.append(judge('b', 1, 0, 'unreasonable'), 'x.png');
    expect(c).toEqual({ kind: 'conflict', state: { revision: 1, judgement: 'reasonable', removed: false, map: null } });
    const d = j.append(judge('a', 1, 0, 'reasonable'), 'x.png');
    expect(d).toMatchObject({ kind: 'duplicate', seq: 1 });
    expect(fs.statSync(j.file).size).toBe(size);
    j.close();
  });

  it('drops a torn last line at open (and cuts it from the file), keeping every complete event', () => {
    const dir = tmp();
    const j = JournalStore.open(dir, 'ann');
    j.append(judge('a', 0, 0, 'reasonable'), 'x.png');
    j.append(judge('b', 1, 0, 'unreasonable'), 'y.png');
    j.close();
    const whole = fs.readFileSync(j.file, 'utf8');
    fs.appendFileSync(j.file, '{"id":"c","seq":3,"time":"2026-01-01T00:00:00.000Z","index":2,"ima');
    const logs: string[] = [];
    const k = JournalStore.open(dir, 'ann', (l) => logs.push(l));
    expect(logs.length).toBe(1);
    expect(logs[0]).toMatch(/torn last line/);
    expect(fs.readFileSync(j.file, 'utf8')).toBe(whole);
    expect(k.state(2).revision).toBe(0);
    expect(k.state(1).judgement).toBe('unreasonable');
    // the next event starts on its own line
    k.append(judge('d', 2, 0, 'reasonable'), 'z.png');
    k.close();
    expect(readJournal(j.file).events.map((e) => e.id)).toEqual(['a', 'b', 'd']);
  });

  it('skips an event id seen before when folding (an outbox replayed into the file twice counts once)', () => {
    const ev = (id: string, seq: number, j: 'reasonable' | 'unreasonable'): JournalEvent => ({ ...judge(id, 0, seq - 1, j), seq, time: 't', image: 'x.png' });
    const f = foldJournal([ev('a', 1, 'reasonable'), ev('a', 2, 'unreasonable'), ev('b', 3, 'unreasonable')]);
    expect(f.states.get(0)).toEqual({ revision: 2, judgement: 'unreasonable', removed: false, map: null });
    expect(f.ids.get('a')).toBe(1);
    expect(f.seq).toBe(3);
  });

  it('names the file and line of a corrupt complete line, and refuses annotator names that are not safe file names', () => {
    const dir = tmp();
    const file = journalFile(dir, 'ann');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify({ ...judge('a', 0, 0, 'reasonable'), seq: 1, time: 't', image: 'x' })}\nnot json\n`);
    expect(() => JournalStore.open(dir, 'ann')).toThrow(`${file}: line 2 is not JSON`);
    for (const bad of ['../x', 'a/b', '', 'x'.repeat(33), 'a b']) expect(() => journalFile(dir, bad)).toThrow(GradiaInputError);
  });
});
