// The study's plan, journal and export without a browser or a model: keyed shuffles, the
// original CSV columns on a hand-made answer, and a torn journal line cut before appending.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { StudyJournalEvent } from '../src/review/api.js';
import { slotId, slotOrder, STUDY_FORMAT, type StudyPlan } from '../src/review/study_plan.js';
import { startStudyServer } from '../src/review/study_server.js';
import { readStudyJournal, studyCsv, unshuffle } from '../src/review/study_store.js';
import { request } from './helpers/http_request.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-study-store-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const plan: StudyPlan = { format: STUDY_FORMAT, models: ['m1', 'm2', 'm3'], split: 'test', images: ['a.png', 'b,c.png'], secret: '11'.repeat(32), createdAt: 't' };

describe('study plan and export', () => {
  it('each image\'s order is a permutation, fixed by the secret; slot ids differ per image and slot', () => {
    for (let item = 0; item < 20; item++) expect([...slotOrder(plan, item)].sort()).toEqual([0, 1, 2]);
    expect(slotOrder(plan, 3)).toEqual(slotOrder({ ...plan }, 3));
    const orders = new Set(Array.from({ length: 40 }, (_, i) => slotOrder(plan, i).join('')));
    expect(orders.size).toBe(6); // every order of three models occurs
    const ids = new Set([0, 1].flatMap((item) => [0, 1, 2].map((k) => slotId(plan, item, k))));
    expect(ids.size).toBe(6);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{20}$/);
  });

  it('CSV: answers un-shuffled to model numbers, rnd_order as the original writes it, unanswered rows empty', () => {
    // shown order: m3, m1, m2 -> rnd_order [0, 3, 1, 2]
    const e: StudyJournalEvent = {
      id: 'x', item: 0, seq: 1, time: 't', image: 'a.png', ms: 5, order: [2, 0, 1],
      answers: [{ necessary: true, unnecessary: true, rating: 5 }, { necessary: false, unnecessary: false, rating: 1 }, { necessary: true, unnecessary: false, rating: 3 }],
    };
    expect(unshuffle(e).map((a) => a.rating)).toEqual([1, 3, 5]);
    const csv = studyCsv(plan, new Map([[0, e]]), (item) => (item === 1 ? [1, 2, 0] : [2, 0, 1]));
    expect(csv).toBe([
      ',img_idx,a_1,a_2,a_3,b_1,b_2,b_3,c_1,c_2,c_3,rnd_order',
      '0,a,False,True,True,False,False,True,1,3,5,"[0, 3, 1, 2]"',
      '1,"b,c",,,,,,,,,,"[0, 2, 3, 1]"',
      '',
    ].join('\n'));
  });
});

describe('study journal', () => {
  it('a torn last line is cut before the next answer is appended; the answer is fsynced as one line', async () => {
    const studyDir = path.join(dir, 'study');
    fs.mkdirSync(studyDir);
    const file = path.join(studyDir, 'ann.jsonl');
    const first: StudyJournalEvent = { id: 'a1', item: 0, seq: 1, time: 't', image: 'a.png', ms: 1, order: [0, 1, 2], answers: [1, 2, 3].map((r) => ({ necessary: true, unnecessary: false, rating: r as 1 | 2 | 3 })) };
    fs.writeFileSync(file, `${JSON.stringify(first)}\n{"id":"a2","it`);
    expect(readStudyJournal(file)).toMatchObject({ torn: true, events: [{ id: 'a1' }] });
    const server = await startStudyServer({ plan, studyDir, samples: [], outputs: [], host: '127.0.0.1', port: 0, annotator: 'ann', token: 'tok' });
    try {
      const login = await request(server.port, '/study?token=tok');
      expect(login.status).toBe(303);
      const cookie = (login.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
      const session = JSON.parse((await request(server.port, '/api/study/session', { headers: { cookie } })).body);
      expect(session).toMatchObject({ annotator: 'ann', count: 2, resumeAt: 1, next: { item: 1 } });
      expect(JSON.stringify(session)).not.toMatch(/m1|m2|m3/);
      const body = JSON.stringify({ id: 'a3', item: 1, answers: [5, 4, 3].map((r) => ({ necessary: false, unnecessary: true, rating: r })), ms: 9 });
      const r = await request(server.port, '/api/study/answers', { method: 'POST', body, headers: { cookie, origin: `http://127.0.0.1:${server.port}`, 'x-gradia-review': '1' } });
      expect(r.status, r.body).toBe(200);
      expect(JSON.parse(r.body)).toMatchObject({ saved: true, seq: 2, next: null });
    } finally {
      await server.close();
    }
    const after = readStudyJournal(file);
    expect(after.torn).toBe(false);
    expect(after.events.map((e) => [e.id, e.seq, e.order])).toEqual([['a1', 1, [0, 1, 2]], ['a3', 2, slotOrder(plan, 1)]]);
  });
});
