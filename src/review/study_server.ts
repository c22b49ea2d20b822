/**
 * The blind study's HTTP server (`review --study`): node:http, one origin, no framework.
 * What the page can learn is only what api.ts's study types carry: item numbers, opaque
 * slot ids and the pictures; the model behind a slot stays on the server (study_plan.ts).
 * Security as the judging server: a token (given once as ?token=, then an HttpOnly
 * SameSite=Strict cookie, compared in constant time), a Host allow-list, same-origin Origin
 * plus the X-Gradia-Review header on writes, capped bodies, and a fixed route table: no
 * part of a URL ever reaches the file system.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import sharp from 'sharp';
import { camPicture, PICTURE_SIZE } from '../report/eval_report.js';
import { camOverlay } from '../report/overlay.js';
import type { EvalSample } from '../data/types.js';
import { compiledEntry } from '../util/paths.js';
import { ANNOTATOR_PATTERN, REVIEW_COOKIE, REVIEW_MAX_BODY, REVIEW_WRITE_HEADER, type EventAnswer, type StudyAnswerRequest, type StudyJournalEvent, type StudySession } from './api.js';
import { slotId, slotOrder, slotTable, type StudyPlan } from './study_plan.js';
import { answerProblem, appendStudyEvent, latestByItem, readStudyJournal } from './study_store.js';

export const STUDY_ANNOTATOR_COOKIE = 'gradia_study_annotator';

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

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Blind comparison</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #1d1f24; color: #e8e8e8; }
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
</style></head>
<body><header><h1>Blind comparison</h1><span id="where"></span><div id="progress"><div></div></div><span id="who"></span></header>
<main><p id="intro">For each picture: does the highlighted focus contain the <span class="em">necessary</span> details for the class?
Does it contain <span class="em">unnecessary</span> details? Overall, rate the quality of the focus (5 excellent, 1 very poor).</p>
<div id="pictures"></div>
<div id="bar"><button id="submit" disabled>Submit and go to the next</button><span id="left"></span><span id="status"></span></div>
</main><script type="module" src="/static/study_page.js"></script></body></html>
`;

function parseCookies(h: string | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of (h ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) m.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return m;
}

function sameToken(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

async function decodeRgb(file: string, size: number): Promise<Uint8Array> {
  const { data } = await sharp(file).removeAlpha().toColourspace('srgb').resize(size, size, { fit: 'fill', kernel: 'linear' }).raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

const png = (rgb: Uint8Array, size: number): Promise<Buffer> => sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();

export async function startStudyServer(o: StudyServerOptions): Promise<StudyServer> {
  const { plan } = o;
  const token = o.token ?? crypto.randomBytes(24).toString('hex');
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

  let port = o.port;
  const allowedHosts = (): Set<string> => new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${o.host}:${port}`]);

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const send = (code: number, body: string | Buffer, type = 'text/plain; charset=utf-8', extra: Record<string, string | string[]> = {}) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', ...extra });
      res.end(body);
    };
    const json = (code: number, v: unknown) => send(code, JSON.stringify(v), 'application/json');
    const host = req.headers.host ?? '';
    if (!allowedHosts().has(host)) return send(421, 'unknown Host');
    const url = new URL(req.url ?? '/', `http://${host}`);
    const cookies = parseCookies(req.headers.cookie);
    // First visit: ?token= (and ?annotator=) become cookies, and the URL loses them.
    const given = url.searchParams.get('token');
    if (given !== null) {
      if (!sameToken(given, token)) return send(403, 'bad token');
      const who = url.searchParams.get('annotator');
      if (who !== null && !ANNOTATOR_PATTERN.test(who)) return send(400, 'annotator ids are letters, digits, _ . - (at most 32)');
      const set = [`${REVIEW_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`];
      if (who !== null) set.push(`${STUDY_ANNOTATOR_COOKIE}=${who}; HttpOnly; SameSite=Strict; Path=/`);
      return send(303, '', 'text/plain', { location: url.pathname === '/' ? '/study' : url.pathname, 'set-cookie': set });
    }
    if (!sameToken(cookies.get(REVIEW_COOKIE), token)) return send(403, 'open the URL with the token that `gradia-dist review` printed');
    const fromCookie = cookies.get(STUDY_ANNOTATOR_COOKIE);
    const annotator = fromCookie !== undefined && ANNOTATOR_PATTERN.test(fromCookie) ? fromCookie : o.annotator;
    const p = url.pathname;
    let m: RegExpExecArray | null;

    if (req.method === 'POST') {
      if (req.headers[REVIEW_WRITE_HEADER] !== '1') return send(403, `writes need the ${REVIEW_WRITE_HEADER} header`);
      if (req.headers.origin !== `http://${host}`) return send(403, 'cross-origin write refused');
      if (p !== '/api/study/answers') return send(404, 'not found');
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of req) {
        size += (c as Buffer).length;
        if (size > REVIEW_MAX_BODY) return send(413, 'body too large');
        chunks.push(c as Buffer);
      }
      let body: StudyAnswerRequest;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as StudyAnswerRequest;
      } catch {
        return send(400, 'not JSON');
      }
      if (typeof body.id !== 'string' || body.id.length === 0 || body.id.length > 64) return send(400, 'no answer id');
      const problem = answerProblem(plan, body.item, body.answers);
      if (problem) return send(400, problem);
      const s = stateOf(annotator);
      if (s.ids.has(body.id)) return json(200, { saved: true, seq: s.seq, ...session(annotator) });
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
      return json(200, { ...answer, ...session(annotator) });
    }
    if (req.method !== 'GET') return send(405, 'method not allowed');
    if (p === '/' || p === '/study') return send(200, PAGE, 'text/html; charset=utf-8', { 'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'" });
    if ((m = /^\/static\/([a-z_]+\.js)$/.exec(p)) && STATIC[m[1]!]) {
      return send(200, fs.readFileSync(compiledEntry(STATIC[m[1]!]!)), 'text/javascript; charset=utf-8');
    }
    if (p === '/api/study/session') return json(200, session(annotator));
    if ((m = /^\/api\/study\/items\/(\d{1,7})\/image\.png$/.exec(p))) {
      const item = Number(m[1]);
      if (item >= plan.images.length) return send(404, 'not found');
      return send(200, await png(await rgbOf(item), S), 'image/png');
    }
    if ((m = /^\/api\/study\/slots\/([0-9a-f]{20})\.png$/.exec(p))) {
      const slot = slots.get(m[1]!);
      if (!slot) return send(404, 'not found');
      const out = o.outputs[slot.model]!;
      const rgb = await rgbOf(slot.item);
      return send(200, await png(camOverlay(rgb, camPicture(out.cams[slot.item]!, out.grid, S), S, S), S), 'image/png');
    }
    return send(404, 'not found');
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      process.stderr.write(`review --study: ${(e as Error).message}\n`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('server error (see the terminal)');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  port = (server.address() as { port: number }).port;
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
