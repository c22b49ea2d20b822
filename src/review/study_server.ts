/**
 * The blind study's HTTP server (`review --study`): node:http, one origin, no framework.
 * What the page can learn is only what api.ts's study types carry: item numbers, opaque
 * slot ids and the pictures; the model behind a slot stays on the server (study_plan.ts).
 * Security is the judging server's own gate (security.ts: token then cookie, Host
 * allow-list, no dot-dot paths, same-origin Origin plus the X-Gradia-Review header on
 * writes), bodies capped as there, and a fixed route table: no part of a URL ever reaches
 * the file system.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { camPicture, decodeRgb, PICTURE_SIZE, pngOf } from '../report/eval_report.js';
import { camOverlay } from '../report/overlay.js';
import type { EvalSample } from '../data/types.js';
import { compiledEntry } from '../util/paths.js';
import { REVIEW_MAX_BODY, type EventAnswer, type StudyAnswerRequest, type StudyJournalEvent, type StudySession } from './api.js';
import { HttpError, readJsonBody, send, sendJson } from './http_util.js';
import { allowedHosts, gate, newToken } from './security.js';
import { slotId, slotOrder, slotTable, type StudyPlan } from './study_plan.js';
import { answerProblem, appendStudyEvent, latestByItem, readStudyJournal } from './study_store.js';

export interface StudyModelOutputs {
  /** raw Grad-CAM of the predicted class per study image (plan order), grid x grid */
  cams: Float32Array[];
  grid: number;
}

export interface StudyServerOptions {
  plan: StudyPlan;
  studyDir: string;
  /** the study images, in plan order */
  samples: EvalSample[];
  /** per model, in plan.models order */
  outputs: StudyModelOutputs[];
  host: string;
  port: number;
  /** annotator when the URL names none */
  annotator: string;
  token?: string;
}

export interface StudyServer {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

/** Static files: a fixed table of compiled page modules. */
const STATIC: Record<string, string> = {
  'study_page.js': 'review/study_page',
  'api.js': 'review/api',
};

const STUDY_CSS = `body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #1d1f24; color: #e8e8e8; }
header { display: flex; gap: 1.5em; align-items: center; padding: .6em 1em; background: #2a2d34; }
header h1 { font-size: 1.1em; margin: 0; }
#progress { flex: 1; height: .6em; background: #444; border-radius: .3em; overflow: hidden; }
#progress > div { height: 100%; background: #6cb2ff; width: 0; }
main { padding: 1em; }
#pictures { display: flex; gap: 1em; flex-wrap: wrap; align-items: flex-start; }
figure { margin: 0; background: #2a2d34; padding: .5em; border-radius: .4em; }
figure img { display: block; width: 224px; height: 224px; image-rendering: auto; }
figcaption { text-align: center; font-weight: bold; margin: .3em 0; }
fieldset { border: 1px solid #555; margin: .3em 0; padding: .2em .5em; }
legend { font-size: .85em; color: #bbb; }
label { margin-right: .6em; cursor: pointer; white-space: nowrap; }
#bar { margin-top: 1em; display: flex; gap: 1em; align-items: center; }
button { font-size: 1em; padding: .4em 1.2em; }
#status { color: #9fd49f; }
#status.error { color: #ff8c8c; }
.em { color: #ffd75e; font-weight: bold; }
`;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Blind comparison</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/study.css"></head>
<body><header><h1>Blind comparison</h1><span id="where"></span><div id="progress"><div></div></div><span id="who"></span></header>
<main><p id="intro">For each picture: does the highlighted focus contain the <span class="em">necessary</span> details for the class?
Does it contain <span class="em">unnecessary</span> details? Overall, rate the quality of the focus (5 excellent, 1 very poor).</p>
<div id="pictures"></div>
<div id="bar"><button id="submit" disabled>Submit and go to the next</button><span id="left"></span><span id="status"></span></div>
</main><script type="module" src="/static/study_page.js"></script></body></html>
`;

export async function startStudyServer(o: StudyServerOptions): Promise<StudyServer> {
  const { plan } = o;
  const token = o.token ?? newToken();
  const slots = slotTable(plan);
  const S = PICTURE_SIZE;
  const rgbCache = new Map<number, Promise<Uint8Array>>();
  const rgbOf = (item: number): Promise<Uint8Array> => {
    let p = rgbCache.get(item);
    if (!p) {
      p = decodeRgb(o.samples[item]!.path, S);
      rgbCache.set(item, p);
      if (rgbCache.size > 64) rgbCache.delete(rgbCache.keys().next().value!);
    }
    return p;
  };
  const journalOf = (annotator: string) => path.join(o.studyDir, `${annotator}.jsonl`);
  // Per annotator: the latest answer per item and the next sequence number (read once).
  const state = new Map<string, { latest: Map<number, StudyJournalEvent>; seq: number; ids: Set<string> }>();
  const stateOf = (a: string) => {
    let s = state.get(a);
    if (!s) {
      const j = readStudyJournal(journalOf(a));
      // a torn last line (a crash mid-append) is cut off, so the next answer starts a fresh line
      if (j.torn) {
        fs.truncateSync(j.file, j.intactBytes);
        process.stderr.write(`${j.file}: dropped a torn last line (an answer that was never acknowledged)\n`);
      }
      s = { latest: latestByItem(j), seq: j.events.reduce((m, e) => Math.max(m, e.seq), 0), ids: new Set(j.events.map((e) => e.id)) };
      state.set(a, s);
    }
    return s;
  };
  const session = (a: string): StudySession => {
    const s = stateOf(a);
    let next = 0;
    while (next < plan.images.length && s.latest.has(next)) next++;
    return {
      annotator: a, count: plan.images.length, resumeAt: next,
      next: next < plan.images.length ? { item: next, slots: plan.models.map((_, k) => slotId(plan, next, k)) } : null,
    };
  };

  let hosts = allowedHosts(o.host, o.port);

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://study.invalid');
    const { annotator, login } = gate(req, url, { token, hosts, defaultAnnotator: o.annotator });
    if (login) return send(res, 303, 'text/plain', '', { location: url.pathname === '/' ? '/study' : url.pathname, 'set-cookie': login.cookies });
    const p = url.pathname;
    let m: RegExpExecArray | null;

    if (req.method === 'POST') {
      if (p !== '/api/study/answers') throw new HttpError(404, 'not found');
      const body = (await readJsonBody(req, REVIEW_MAX_BODY)) as StudyAnswerRequest;
      if (typeof body?.id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(body.id)) throw new HttpError(400, '"id" must be 1-64 letters, digits, - or _');
      const problem = answerProblem(plan, body.item, body.answers);
      if (problem) throw new HttpError(400, problem);
      const s = stateOf(annotator);
      if (s.ids.has(body.id)) return sendJson(res, 200, { saved: true, seq: s.seq, ...session(annotator) });
      const e: StudyJournalEvent = {
        id: body.id, item: body.item, answers: body.answers.map((a) => ({ necessary: a.necessary, unnecessary: a.unnecessary, rating: a.rating })),
        ms: Number.isFinite(body.ms) && body.ms >= 0 ? Math.round(body.ms) : 0,
        seq: s.seq + 1, time: new Date().toISOString(), image: plan.images[body.item]!, order: slotOrder(plan, body.item),
      };
      appendStudyEvent(journalOf(annotator), e);
      s.seq = e.seq;
      s.ids.add(e.id);
      s.latest.set(e.item, e);
      const answer: Pick<EventAnswer, 'saved' | 'seq'> = { saved: true, seq: e.seq };
      return sendJson(res, 200, { ...answer, ...session(annotator) });
    }
    if (req.method !== 'GET') throw new HttpError(405, 'method not allowed');
    if (p === '/' || p === '/study') return send(res, 200, 'text/html; charset=utf-8', PAGE);
    if (p === '/static/study.css') return send(res, 200, 'text/css; charset=utf-8', STUDY_CSS);
    if ((m = /^\/static\/([a-z_]+\.js)$/.exec(p)) && STATIC[m[1]!]) {
      return send(res, 200, 'text/javascript; charset=utf-8', fs.readFileSync(compiledEntry(STATIC[m[1]!]!)));
    }
    if (p === '/api/study/session') return sendJson(res, 200, session(annotator));
    if ((m = /^\/api\/study\/items\/(\d{1,7})\/image\.png$/.exec(p))) {
      const item = Number(m[1]);
      if (item >= plan.images.length) throw new HttpError(404, 'not found');
      return send(res, 200, 'image/png', await pngOf(await rgbOf(item), S, S));
    }
    if ((m = /^\/api\/study\/slots\/([0-9a-f]{20})\.png$/.exec(p))) {
      const slot = slots.get(m[1]!);
      if (!slot) throw new HttpError(404, 'not found');
      const out = o.outputs[slot.model]!;
      const rgb = await rgbOf(slot.item);
      return send(res, 200, 'image/png', await pngOf(camOverlay(rgb, camPicture(out.cams[slot.item]!, out.grid, S), S, S), S, S));
    }
    throw new HttpError(404, 'not found');
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return void res.end();
      if (e instanceof HttpError) return sendJson(res, e.status, { error: e.message });
      process.stderr.write(`review --study: ${(e as Error).message}\n`);
      sendJson(res, 500, { error: 'server error (see the terminal)' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  hosts = allowedHosts(o.host, port);
  const shownHost = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `http://${shownHost}:${port}/study?token=${token}`,
    port,
    token,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
