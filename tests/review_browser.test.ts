// `gradia-dist review` in a real browser: Debian's chromium driven by playwright-core.
// One generated data set (64 px, 6 validation images whose human maps mark the context patch
// -1, "do not look here"), one 1-epoch tiny18 phase-1 model,
// one server (restarted once after a SIGKILL) and one browser for the whole file; each test
// works as its own annotator so their journals stay apart.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ItemDetail, JournalEvent, SessionInfo } from '../src/review/api.js';
import { ATTENTION_FILES, readAttentionFile } from '../src/data/attention.js';
import { camIoU } from '../src/data/iou.js';
import { MAP_AVOID, MAP_LOOK } from '../src/review/api.js';
import { labelMapToMask, emptyMask, paintPolygon, paintStroke } from '../src/review/raster.js';
import { runCli, startCli } from './helpers/cli.js';
import { makeDataSet, type MadeDataSet } from './helpers/data_set.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
// Under CI the browser tests must run: a missing chromium fails them (in beforeAll) instead of skipping.
const run = haveChromium || Boolean(process.env.CI);

interface Server { child: ChildProcess; url: string; origin: string; token: string; port: number; stderr: () => string }

let made: MadeDataSet;
let models: string;
let server: Server;
let browser: Browser;
const contexts: BrowserContext[] = [];
const pageErrors: string[] = [];

function startServer(): Promise<Server> {
  const child = startCli(['review', '--data-dir', made.data, '--model-dir', models, '--model-name', 'model_out', '--port', '0', '--workers', '1', '--annotator', 'first']);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`review did not print its URL in time:\n${out}\n${err}`)), 110_000);
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:(\d+))\/\?token=([A-Za-z0-9_-]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[0], origin: m[1]!, port: Number(m[2]), token: m[3]!, stderr: () => err });
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`review exited (${code}):\n${out}\n${err}`)); });
  });
}

function stop(s: Server, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (s.child.exitCode !== null || s.child.signalCode !== null) return resolve();
    s.child.once('exit', () => resolve());
    s.child.kill(signal);
  });
}

/** A page logged in as `annotator` (its own browser context: own cookies and IndexedDB). */
async function openAs(annotator: string, fragment = '', setup?: (ctx: BrowserContext) => Promise<void>): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 600 }, deviceScaleFactor: 1 });
  contexts.push(ctx);
  await setup?.(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${annotator}: ${e.message}`));
  await page.goto(`${server.url}&annotator=${annotator}`);
  await page.waitForSelector('#verdict');
  if (fragment) {
    await page.goto(`${server.origin}/${fragment}`);
    await page.waitForFunction((f) => document.getElementById('position')?.textContent?.includes(`(index ${f.slice(1)})`), fragment);
  }
  return page;
}

/** The open editor's canvas in map pixels (64 px maps at 7 CSS px each) and a mouse stroke through two of them. */
async function editorPointer(page: Page) {
  const box = (await page.locator('#editor-canvas').boundingBox())!;
  expect(box.width).toBe(448);
  const at = (mx: number, my: number) => [box.x + mx * 7, box.y + my * 7] as const;
  const strokeThrough = async (a: [number, number], b: [number, number]) => {
    await page.mouse.move(...at(...a));
    await page.mouse.down();
    await page.mouse.move(...at(...b), { steps: 8 });
    await page.mouse.up();
  };
  return { at, strokeThrough };
}

const statusIs = (page: Page, prefix: string) => page.waitForFunction((p) => document.getElementById('status')!.textContent!.startsWith(p), prefix);

/** GET with the page's own cookies. */
const apiGet = <T>(page: Page, p: string): Promise<T> => page.evaluate(async (u) => (await fetch(u)).json(), p) as Promise<T>;

function journal(annotator: string): JournalEvent[] {
  const f = path.join(made.data, 'review', 'model_out', 'judgements', `${annotator}.jsonl`);
  return fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JournalEvent);
}

/** A raw HTTP request (no browser, no normalisation of the path). */
function raw(o: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method: o.method ?? 'GET', path: o.path, headers: o.headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', reject);
    });
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' || (e as NodeJS.ErrnoException).code === 'EPIPE' ? resolve({ status: 413, body: 'reset' }) : reject(e)));
    req.end(o.body);
  });
}

describe.skipIf(!run)('review in Chromium', () => {
  beforeAll(async () => {
    if (!haveChromium) throw new Error(`${CHROMIUM} is missing: the review UI's browser tests need Debian's chromium (apt-get install chromium)`);
    made = makeDataSet('review-ui-', { train: 16, val: 6, test: 2, size: 64, seed: 3, negatives: true });
    models = path.join(made.dir, 'models');
    const trained = runCli(['train', '--data-dir', made.data, '--model-dir', models, '--arch', 'tiny18', '--input-size', '64', '--n-epoch', '1', '--train-batch', '8', '--workers', '1', '--checkpoint-every', '0']);
    if (trained.code !== 0) throw new Error(`train failed: ${trained.stderr}`);
    [server, browser] = await Promise.all([startServer(), chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] })]);
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    if (server) await stop(server, 'SIGTERM');
    if (made) fs.rmSync(made.dir, { recursive: true, force: true });
    expect(pageErrors).toEqual([]);
  });

  it('U then R judge the first two queued images and move on; a fresh load resumes at the third', async () => {
    const page = await openAs('keys');
    const session = await apiGet<SessionInfo>(page, '/api/session');
    const order = session.order;
    expect(page.url()).toBe(`${server.origin}/#${order[0]}`);
    expect(await page.textContent('#position')).toContain('image 1 of 6');
    await page.keyboard.press('u');
    await statusIs(page, 'saved');
    await page.keyboard.press('r');
    await statusIs(page, 'saved');
    expect(page.url()).toBe(`${server.origin}/#${order[2]}`);
    await page.waitForFunction(() => document.getElementById('progress-text')!.textContent === '2 / 6 judged');
    const ev = journal('keys');
    expect(ev.map((e) => [e.index, e.value])).toEqual([[order[0], { kind: 'judge', judgement: 'unreasonable' }], [order[1], { kind: 'judge', judgement: 'reasonable' }]]);
    // a new tab without a fragment opens at the first image not judged yet
    const again = await openAs('keys');
    expect(again.url()).toBe(`${server.origin}/#${order[2]}`);
    expect(await again.textContent('#position')).toContain('image 3 of 6');
    // going back shows the recorded verdict and the phase-2 weights it leads to
    await again.keyboard.press('ArrowLeft');
    await again.waitForFunction((i) => location.hash === `#${i}`, order[1]);
    const d = await apiGet<ItemDetail>(again, `/api/items/${order[1]}`);
    const verdict = `Reasonable ${d.pred === d.label ? 'Accurate' : 'Inaccurate'}`;
    await again.waitForFunction((v) => document.getElementById('verdict')!.textContent === v, verdict);
    const w = d.humanMap ? d.weightsIf.reasonable : { predWeight: 1, attWeight: 0 };
    expect(await again.textContent('#weights')).toContain(`prediction ${w.predWeight}, attention ${w.attWeight}`);
  });

  it('X marks the sample removed, X again restores it, and Z undoes a judgement', async () => {
    const page = await openAs('remover');
    const i = Number(new URL(page.url()).hash.slice(1));
    await page.keyboard.press('x');
    await statusIs(page, 'saved');
    await page.waitForSelector('#removed');
    expect((await apiGet<ItemDetail>(page, `/api/items/${i}`)).state.removed).toBe(true);
    await page.keyboard.press('x');
    await statusIs(page, 'saved');
    await page.waitForSelector('#removed', { state: 'detached' });
    // Z takes back this tab's last change: here a judgement made (and moved on from) just before
    await page.keyboard.press('r');
    await statusIs(page, 'saved');
    expect(page.url()).not.toMatch(new RegExp(`#${i}$`));
    await page.keyboard.press('z');
    await statusIs(page, 'saved');
    expect(page.url()).toMatch(new RegExp(`#${i}$`));
    await page.waitForFunction(() => document.getElementById('verdict')!.textContent === 'not judged yet');
    expect(journal('remover').map((e) => e.value)).toEqual([
      { kind: 'remove', removed: true }, { kind: 'remove', removed: false }, { kind: 'judge', judgement: 'reasonable' }, { kind: 'judge', judgement: null },
    ]);
  });

  it('polygon + brush + eraser + undo save the map the rasteriser gives, bit for bit', async () => {
    const page = await openAs('drawer');
    const i = Number(new URL(page.url()).hash.slice(1));
    await page.keyboard.press('d');
    await page.waitForSelector('#editor-canvas');
    const { at, strokeThrough } = await editorPointer(page);
    await page.keyboard.press('3'); // start from an empty map
    await page.keyboard.press('p');
    for (const [x, y] of [[10, 10], [20, 10], [10, 20], [10, 10]] as const) await page.mouse.click(...at(x, y)); // the last click closes it
    await page.keyboard.press('b');
    await page.keyboard.press('['); // 4 -> 3 px
    await strokeThrough([5.5, 30.5], [40.5, 30.5]);
    await page.keyboard.press('e');
    await strokeThrough([15.5, 5.5], [15.5, 40.5]);
    await page.keyboard.press('b');
    await strokeThrough([45.5, 45.5], [55.5, 50.5]);
    await page.keyboard.press('z'); // takes back the last stroke only
    await page.keyboard.press('Enter');
    await statusIs(page, 'saved');
    const saved = (await apiGet<ItemDetail>(page, `/api/items/${i}`)).state.map!;
    const got = labelMapToMask(saved)!;
    // expected: the triangle's pixels counted by hand (centres with x, y >= 10 and x + y + 1 < 30) ...
    const want = emptyMask(64, 64);
    for (let y = 10; y <= 18; y++) for (let x = 10; x <= 28 - y; x++) want.data[y * 64 + x] = 1;
    // ... then the brush and the eraser, by the rasteriser (size 3)
    paintStroke(want, [{ x: 5.5, y: 30.5 }, { x: 40.5, y: 30.5 }], 3, 1);
    paintStroke(want, [{ x: 15.5, y: 5.5 }, { x: 15.5, y: 40.5 }], 3, 0);
    expect(got.h).toBe(64);
    expect(Buffer.from(got.data).equals(Buffer.from(want.data))).toBe(true);
    expect(journal('drawer').at(-1)!.value).toEqual({ kind: 'map', map: saved });
  });

  it('a map whose phase-2 target is all zero cannot be saved', async () => {
    const page = await openAs('sparse');
    await page.keyboard.press('d');
    await page.waitForSelector('#editor-canvas');
    const box = (await page.locator('#editor-canvas').boundingBox())!;
    await page.keyboard.press('3');
    for (let k = 0; k < 3; k++) await page.keyboard.press('['); // 4 -> 1 px
    await page.mouse.click(box.x + 5.5 * 7, box.y + 5.5 * 7);
    expect(await page.textContent('#brush-size')).toContain(' 1 px ');
    await page.keyboard.press('Enter');
    expect(await page.textContent('#editor-message')).toContain('no label left');
    expect(await page.locator('button', { hasText: 'Save' }).isDisabled()).toBe(true);
    expect(fs.existsSync(path.join(made.data, 'review', 'model_out', 'judgements', 'sparse.jsonl')) ? journal('sparse') : []).toEqual([]);
  });

  it('shows a human map\'s "do not look here" region; the N brush and a polygon after N draw one, saved as 2 and published as -1, which the trainer reads', async () => {
    const page = await openAs('negatives');
    const i = Number(new URL(page.url()).hash.slice(1));
    const d = await apiGet<ItemDetail>(page, `/api/items/${i}`);
    // the map the page gets equals attention_val.json's rows (1 -> 1, -1 -> 2), read here without the project's reader
    const rows = (JSON.parse(fs.readFileSync(path.join(made.data, ATTENTION_FILES.val), 'utf8')) as { img: string; attention: number[][] }[])
      .find((e) => e.img.endsWith(`/${d.image}`))!.attention.flat();
    const avoid = rows.filter((v) => v === -1).length;
    expect(avoid).toBeGreaterThan(0);
    expect(Array.from(labelMapToMask(d.humanMap!)!.data)).toEqual(rows.map((v) => (v === -1 ? MAP_AVOID : v > 0 ? MAP_LOOK : 0)));
    expect(await page.textContent('#human-map')).toContain(`do not look here" (${avoid} px`);
    // M outlines the region in red on the judging view
    const redPixels = () => page.evaluate(() => {
      const c = document.getElementById('view') as HTMLCanvasElement;
      const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let k = 0; k < px.length; k += 4) if (px[k] === 255 && px[k + 1] === 40 && px[k + 2] === 40) n++;
      return n;
    });
    expect(await redPixels()).toBe(0);
    await page.keyboard.press('m');
    await expect.poll(redPixels).toBeGreaterThan(0);
    // the editor starts from the human map with its negatives
    await page.keyboard.press('d');
    await page.waitForSelector('#editor-canvas');
    expect(await page.textContent('#map-counts')).toContain(`${avoid} px do not look here`);
    // the live IoU is evaluate's, of the "look here" region only
    const human = labelMapToMask(d.humanMap!)!;
    const lookOnly = { h: human.h, w: human.w, data: human.data.map((v) => (v === MAP_LOOK ? 255 : 0)) };
    const session = await apiGet<SessionInfo>(page, '/api/session');
    expect(await page.textContent('#live-iou')).toBe(camIoU(Float32Array.from(d.cam), session.grid, lookOnly).toFixed(3));
    const { at, strokeThrough } = await editorPointer(page);
    await page.keyboard.press('3');
    await page.keyboard.press('b');
    await strokeThrough([5.5, 10.5], [50.5, 10.5]);
    await page.keyboard.press('n');
    await strokeThrough([20.5, 2.5], [20.5, 40.5]);
    // the polygon fills with the label picked last (N): a triangle over the end of the first stroke
    await page.keyboard.press('p');
    expect(await page.textContent('button.on')).toContain('Polygon (do not look)');
    for (const [x, y] of [[40, 5], [60, 5], [40, 25], [40, 5]] as const) await page.mouse.click(...at(x, y));
    await page.keyboard.press('Enter');
    await statusIs(page, 'saved');
    const want = emptyMask(64, 64);
    paintStroke(want, [{ x: 5.5, y: 10.5 }, { x: 50.5, y: 10.5 }], 4, MAP_LOOK);
    paintStroke(want, [{ x: 20.5, y: 2.5 }, { x: 20.5, y: 40.5 }], 4, MAP_AVOID);
    paintPolygon(want, [{ x: 40, y: 5 }, { x: 60, y: 5 }, { x: 40, y: 25 }], MAP_AVOID);
    const saved = labelMapToMask((await apiGet<ItemDetail>(page, `/api/items/${i}`)).state.map!)!;
    expect(Buffer.from(saved.data).equals(Buffer.from(want.data))).toBe(true);
    // publish (this annotator's map wins) writes -1 there, and the trainer's reader has them as negatives
    const pub = runCli(['review', '--publish', '--merge', 'adjudicator=negatives', '--data-dir', made.data, '--model-dir', models, '--model-name', 'model_out', '--workers', '1']);
    expect(pub.code, pub.stderr).toBe(0);
    const written = (JSON.parse(fs.readFileSync(path.join(made.data, ATTENTION_FILES.valUpdate), 'utf8')) as { img: string; attention: number[][] }[])
      .find((e) => e.img === d.image)!.attention.flat();
    expect(written).toEqual(Array.from(want.data, (v) => (v === MAP_AVOID ? -1 : v)));
    const read = readAttentionFile(path.join(made.data, ATTENTION_FILES.valUpdate)).get(d.image)!;
    expect(Array.from(read.negative!)).toEqual(Array.from(want.data, (v) => (v === MAP_AVOID ? 255 : 0)));
    expect(Array.from(read.data)).toEqual(Array.from(want.data, (v) => (v === MAP_LOOK ? 255 : 0)));
  });

  it('other tabs hear a change live; an out-of-date tab gets a conflict, shown to the person, and nothing is overwritten', async () => {
    const a = await openAs('twotabs');
    const i = Number(new URL(a.url()).hash.slice(1));
    // tab B hears nothing from the live stream, so it stays out of date
    const b = await openAs('twotabs', `#${i}`, (ctx) => ctx.route('**/api/stream', (r) => r.abort()));
    // tab C listens to the live stream: A's judgement appears there without a reload
    const c = await openAs('twotabs', `#${i}`);
    await a.keyboard.press('r');
    await statusIs(a, 'saved');
    await c.waitForFunction(() => document.getElementById('verdict')!.textContent!.startsWith('Reasonable'));
    await b.keyboard.press('u');
    await statusIs(b, 'conflict');
    await b.waitForSelector('#conflict');
    expect(b.url()).toBe(`${server.origin}/#${i}`);
    expect(await b.textContent('#verdict')).toMatch(/^Reasonable/);
    expect(journal('twotabs').map((e) => e.value)).toEqual([{ kind: 'judge', judgement: 'reasonable' }]);
  });

  it('a change made while the server cannot be reached waits in the outbox (IndexedDB) and is saved on the next load', async () => {
    const page = await openAs('offline');
    const i = Number(new URL(page.url()).hash.slice(1));
    await page.route('**/api/events', (r) => r.abort());
    await page.keyboard.press('r');
    await statusIs(page, 'not saved yet');
    expect(journal('offline')).toEqual([]);
    await page.close();
    const again = await page.context().newPage(); // same browser profile: same IndexedDB
    await again.goto(`${server.origin}/`);
    await again.waitForSelector('#verdict');
    await expect.poll(() => journal('offline').map((e) => [e.index, e.value])).toEqual([[i, { kind: 'judge', judgement: 'reasonable' }]]);
    // replayed once: a second load has nothing left to send
    await again.reload();
    await again.waitForSelector('#verdict');
    expect(journal('offline').length).toBe(1);
  });

  it('hostile requests are refused', async () => {
    const cookie = `gradia_review_token=${server.token}; gradia_review_annotator=hostile`;
    const host = `127.0.0.1:${server.port}`;
    const write = { 'content-type': 'application/json', 'x-gradia-review': '1', origin: `http://${host}`, cookie };
    const event = JSON.stringify({ id: 'h1', index: 0, baseRevision: 0, value: { kind: 'judge', judgement: 'reasonable' } });
    expect((await raw({ path: '/api/session', headers: { cookie } })).status).toBe(200); // the baseline works
    const refused: [string, Parameters<typeof raw>[0], number][] = [
      ['no token', { path: '/api/session' }, 403],
      ['a wrong token', { path: '/?token=nope' }, 403],
      ['a wrong cookie', { path: '/api/session', headers: { cookie: 'gradia_review_token=nope' } }, 403],
      ['..', { path: '/static/../../package.json', headers: { cookie } }, 400],
      ['%2e%2e', { path: '/static/%2e%2e/%2e%2e/package.json', headers: { cookie } }, 400],
      ['%2E%2E in an item', { path: '/api/items/%2E%2E/image.png', headers: { cookie } }, 400],
      ['a module not in the table', { path: '/static/review/server.js', headers: { cookie } }, 404],
      ['an image index out of range', { path: '/api/items/6/image.png', headers: { cookie } }, 404],
      ['a foreign Host', { path: '/api/session', headers: { cookie, host: `evil.example:${server.port}` } }, 403],
      ['a write from a foreign Origin', { method: 'POST', path: '/api/events', headers: { ...write, origin: 'http://evil.example' }, body: event }, 403],
      ['a write without Origin', { method: 'POST', path: '/api/events', headers: { ...write, origin: '' }, body: event }, 403],
      ['a write without the custom header', { method: 'POST', path: '/api/events', headers: { ...write, 'x-gradia-review': '' }, body: event }, 403],
      ['annotator ../x', { path: `/?token=${server.token}&annotator=..%2Fx`, headers: {} }, 400],
      ['annotator ../x in the cookie', { path: '/api/session', headers: { cookie: `gradia_review_token=${server.token}; gradia_review_annotator=../x` } }, 400],
      ['a body over 1 MiB', { method: 'POST', path: '/api/events', headers: write, body: Buffer.alloc((1 << 20) + 10, 32) }, 413],
    ];
    for (const [what, req, status] of refused) {
      const r = await raw(req);
      expect({ what, status: r.status }).toEqual({ what, status });
      expect(r.body).not.toContain('"name"'); // no package.json, no session
    }
    expect(journal('hostile')).toEqual([]); // opened by the baseline request, never written
    expect(fs.readdirSync(path.join(made.data, 'review', 'model_out', 'judgements')).some((f) => f.includes('x.jsonl'))).toBe(false);
    // the command line refuses such an annotator before doing anything
    const cli = runCli(['review', '--data-dir', made.data, '--model-dir', models, '--annotator', '../x']);
    expect(cli.code).toBe(2);
    expect(cli.stderr.trim().split('\n')).toEqual([`gradia-dist: --annotator "../x": use 1-32 letters, digits, '.', '_' or '-' (it names the journal file)`]);
  });

  it('a judgement saved right before a SIGKILL is there after a restart (which takes over the dead server\'s lock)', async () => {
    const page = await openAs('crash');
    const i = Number(new URL(page.url()).hash.slice(1));
    await page.keyboard.press('u');
    await statusIs(page, 'saved');
    await stop(server, 'SIGKILL');
    // a second server on the same data set and model is refused while one runs: checked on the restarted one below
    expect(server.stderr()).toContain('review: running model_out over 6 validation images once');
    expect(server.stderr()).toMatch(/review: the label files as first seen are kept in .*labels-first-seen/);
    server = await startServer();
    // the model's outputs come from the cache (same checkpoint id), and the stale lock is taken over
    await expect.poll(() => server.stderr()).toMatch(/review: model outputs of model_out \(checkpoint [0-9a-f]{16}\) from .*outputs-[0-9a-f]{16}\.json/);
    await expect.poll(() => server.stderr()).toMatch(/taking over the stale lock/);
    expect(server.stderr()).not.toMatch(/first seen/); // kept once, by the first server
    const again = await openAs('crash');
    const d = await apiGet<ItemDetail>(again, `/api/items/${i}`);
    expect(d.state).toMatchObject({ revision: 1, judgement: 'unreasonable' });
    expect(again.url()).not.toBe(`${server.origin}/#${i}`); // resumed past it
    const second = runCli(['review', '--data-dir', made.data, '--model-dir', models, '--port', '0', '--workers', '1'], { timeoutMs: 60_000 });
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/gradia-dist\.lock: in use by pid \d+/);
  });
});
