// review through the CLI on real (tiny) checkpoints: --publish then phase 2, and the blind
// --study in Chromium (answers map back to the right models; nothing the browser receives
// names a model), its CSV/JSON export, --agreement, and hostile requests.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REASONABILITY_FILE, weightsFor, type ReasonabilityLabel } from '../src/data/reasonability.js';
import { buildEvalSet, buildTrainSet } from '../src/data/phase_dataset.js';
import type { ItemDetail, ReviewEventValue, SessionInfo } from '../src/review/api.js';
import { repoRoot } from '../src/util/paths.js';
import { slotOrder, STUDY_FORMAT, type StudyPlan } from '../src/review/study_plan.js';
import { runCli, startCli } from './helpers/cli.js';
import { chromiumAvailable, launchChromium } from './helpers/chromium.js';
import { makeDataSet, type MadeDataSet } from './helpers/data_set.js';
import { request } from './helpers/http_request.js';

const MODELS = ['modelalpha', 'modelbeta'];
const RT = ['--workers', '1'];
let ds: MadeDataSet;
let models: string;

beforeAll(() => {
  ds = makeDataSet('gradia-study-', { train: 8, val: 4, test: 3, size: 64, seed: 5 });
  models = path.join(ds.dir, 'models');
  MODELS.forEach((name, i) => {
    const r = runCli(['train', '--data-dir', ds.data, '--model-dir', models, '--model-name', name, '--arch', 'tiny18', '--input-size', '64', '--n-epoch', '1', '--train-batch', '8', '--seed', String(i + 1), ...RT]);
    if (r.code !== 0) throw new Error(`train ${name}: ${r.stderr}`);
  });
}, 300_000);
afterAll(() => fs.rmSync(ds.dir, { recursive: true, force: true }));

describe('review --publish (CLI) feeds phase 2', () => {
  it('judgements made through the judging server publish as `assess --human` labels them; X drops the map; phase 2 trains on the files', async () => {
    // U, R and X through the judging server's own API (the page's requests)
    const child = startCli(['review', '--data-dir', ds.data, '--model-dir', models, '--model-name', MODELS[0]!, '--port', '0', '--annotator', 'ann', ...RT]);
    let judged: { u: string; r: string; x: string };
    try {
      const url = new URL(await waitForUrl(child));
      const port = Number(url.port);
      const login = await request(port, `/?token=${url.searchParams.get('token')}`);
      const cookie = (login.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
      const session = JSON.parse((await request(port, '/api/session', { headers: { cookie } })).body) as SessionInfo;
      const [iu, ir, ix] = session.order;
      const name = async (i: number) => (JSON.parse((await request(port, `/api/items/${i}`, { headers: { cookie } })).body) as ItemDetail).image;
      judged = { u: await name(iu!), r: await name(ir!), x: await name(ix!) };
      const post = (id: string, index: number, value: ReviewEventValue) => request(port, '/api/events', {
        method: 'POST', body: JSON.stringify({ id, index, baseRevision: 0, value }),
        headers: { cookie, origin: `http://127.0.0.1:${port}`, 'x-gradia-review': '1', 'content-type': 'application/json' },
      });
      expect((await post('u1', iu!, { kind: 'judge', judgement: 'unreasonable' })).status).toBe(200);
      expect((await post('r1', ir!, { kind: 'judge', judgement: 'reasonable' })).status).toBe(200);
      expect((await post('x1', ix!, { kind: 'remove', removed: true })).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }

    // the oracle: the existing command that crosses people's judgements with the checkpoint's predictions
    const human = path.join(ds.dir, 'human.json');
    fs.writeFileSync(human, JSON.stringify([{ img: judged.u, label: 'unreasonable' }, { img: judged.r, label: 'reasonable' }]));
    const as = runCli(['assess', '--human', human, '--data-dir', ds.data, '--model-dir', models, '--model-name', MODELS[0]!, ...RT]);
    expect(as.code, as.stderr).toBe(0);
    const expected = JSON.parse(fs.readFileSync(path.join(ds.data, REASONABILITY_FILE), 'utf8')) as Record<string, ReasonabilityLabel>;
    expect(Object.keys(expected).sort()).toEqual([judged.u, judged.r].sort());
    fs.writeFileSync(path.join(ds.data, REASONABILITY_FILE), '{}\n');

    const bad = runCli(['review', '--publish', '--merge', 'adjudicator=zed', '--data-dir', ds.data, '--model-dir', models, '--model-name', MODELS[0]!, ...RT]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual(['gradia-dist: --merge adjudicator=zed: zed has no journal (annotators: ann)']);

    const r = runCli(['review', '--publish', '--data-dir', ds.data, '--model-dir', models, '--model-name', MODELS[0]!, ...RT]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('2 judged, 0 redrawn maps, 1 removed');
    expect(JSON.parse(fs.readFileSync(path.join(ds.data, REASONABILITY_FILE), 'utf8'))).toEqual(expected);
    const set = await buildTrainSet(ds.data, { phase: 2, reasonability: true, grid: 2, checkImages: false });
    const sample = (f: string) => set.samples.find((x) => x.fileName === f)!;
    for (const f of [judged.u, judged.r]) {
      const w = expected[f] === 'Reasonable Accurate' ? { predWeight: 1, attWeight: 0 } : weightsFor(expected[f]);
      expect({ predWeight: sample(f).predWeight, attWeight: sample(f).attWeight }).toEqual(w);
    }
    expect([sample(judged.x).target, sample(judged.x).attWeight]).toEqual([null, 0]);

    const p2Models = path.join(ds.dir, 'models-p2');
    fs.cpSync(models, p2Models, { recursive: true });
    const p2 = runCli(['train', '--phase', '2', '--reasonability', '--data-dir', ds.data, '--model-dir', p2Models, '--model-name', MODELS[0]!, '--n-epoch', '1', '--train-batch', '8', ...RT]);
    expect(p2.code, p2.stderr).toBe(0);
  }, 240_000);
});

function waitForUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no URL from review --study:\n${out}\n${err}`)), 180_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /open (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
    child.on('exit', (code) => reject(new Error(`review --study exited ${code}:\n${out}\n${err}`)));
  });
}

describe.runIf(chromiumAvailable())('review --study in Chromium', () => {
  it('blind: answers map back to the right models, nothing names a model, Submit waits for every answer; export, agreement, hostile requests', async () => {
    // A plan with a known secret, chosen so that the first image shows the models swapped
    // and the second in order: both directions of the un-shuffling are exercised.
    const images = (await buildEvalSet(ds.data, 'test', { checkImages: false })).samples.map((s) => s.fileName);
    let secret = '';
    for (let i = 0; ; i++) {
      secret = crypto.createHash('sha256').update(`study-${i}`).digest('hex');
      if (slotOrder({ secret, models: MODELS }, 0)[0] === 1 && slotOrder({ secret, models: MODELS }, 1)[0] === 0) break;
    }
    fs.mkdirSync(path.join(ds.data, 'review', 'study'), { recursive: true });
    fs.writeFileSync(path.join(ds.data, 'review', 'study', 'study.json'), JSON.stringify({ format: STUDY_FORMAT, models: MODELS, split: 'test', images, secret, createdAt: 't' }));
    const child = startCli(['review', '--study', '--models', MODELS.join(','), '--split', 'test', '--data-dir', ds.data, '--model-dir', models, '--port', '0', '--annotator', 'ann', ...RT]);
    const browser = await launchChromium();
    try {
      const url = await waitForUrl(child);
      const port = Number(new URL(url).port);
      const plan = JSON.parse(fs.readFileSync(path.join(ds.data, 'review', 'study', 'study.json'), 'utf8')) as StudyPlan;
      expect(plan.models).toEqual(MODELS);
      const n = plan.images.length;
      // what each model gets: alpha yes/no/2, beta no/yes/4 (for bob: ratings 3 and 5)
      const want = (annotator: string) => [
        { necessary: true, unnecessary: false, rating: annotator === 'ann' ? 2 : 3 },
        { necessary: false, unnecessary: true, rating: annotator === 'ann' ? 4 : 5 },
      ];
      const seen: { url: string; body: string }[] = [];
      const open = async (annotator: string) => {
        const ctx = await browser.newContext({ viewport: { width: 1100, height: 760 } });
        const page = await ctx.newPage();
        page.on('response', (r) => {
          void r.body().then((b) => seen.push({ url: r.url(), body: `${JSON.stringify(r.headers())}${b.toString('latin1')}` }), () => seen.push({ url: r.url(), body: '' }));
        });
        await page.goto(`${url}&annotator=${annotator}`);
        return page;
      };
      const answerItem = async (page: Awaited<ReturnType<typeof open>>, annotator: string, item: number, submit = true) => {
        await page.waitForSelector(`text=image ${item + 1} of ${n}`);
        await page.waitForFunction(() => [...document.querySelectorAll('figure img')].every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0));
        expect(await page.locator('input:checked').count()).toBe(0); // nothing pre-selected
        const order = slotOrder(plan, item);
        const clicks: string[] = [];
        order.forEach((model, k) => {
          const a = want(annotator)[model]!;
          clicks.push(`input[name="nec-${k}"][value="${a.necessary ? 'yes' : 'no'}"]`, `input[name="unn-${k}"][value="${a.unnecessary ? 'yes' : 'no'}"]`, `input[name="rate-${k}"][value="${a.rating}"]`);
        });
        for (const c of clicks.slice(0, -1)) await page.click(c);
        expect(await page.isDisabled('#submit')).toBe(true); // one question still open
        await page.click(clicks[clicks.length - 1]!);
        expect(await page.isDisabled('#submit')).toBe(false);
        if (submit) {
          await page.click('#submit');
          await page.waitForSelector(`text=${item + 2 > n ? 'All' : `image ${item + 2} of ${n}`}`);
          expect(await page.textContent('#status')).toBe('saved');
        }
      };
      const ann = await open('ann');
      await answerItem(ann, 'ann', 0);
      await ann.reload();
      await answerItem(ann, 'ann', 1); // resumed at the second image
      await ann.click('input[name="nec-0"][value="yes"]');
      await ann.click('input[name="rate-1"][value="4"]');
      fs.mkdirSync(path.join(repoRoot, 'docs'), { recursive: true });
      await ann.screenshot({ path: path.join(repoRoot, 'docs', 'review-study.png') });
      const bob = await open('bob');
      // bob's answer does not reach the server: kept in the browser, sent on the next load
      await bob.route('**/api/study/answers', (r) => r.abort());
      await answerItem(bob, 'bob', 0, false);
      await bob.click('#submit');
      await bob.waitForSelector('#status.error');
      expect(await bob.textContent('#where')).toBe(`image 1 of ${n}`);
      await bob.unroute('**/api/study/answers');
      await bob.reload();
      await bob.waitForSelector(`text=image 2 of ${n}`);
      for (const p of [ann, bob]) {
        const html = (await p.content()).toLowerCase();
        for (const m of MODELS) expect(html).not.toContain(m);
        expect(p.url()).not.toMatch(/alpha|beta/);
      }
      expect(seen.length).toBeGreaterThan(8);
      for (const s of seen) {
        expect(s.url).not.toMatch(/alpha|beta/i);
        for (const m of MODELS) expect(s.body.toLowerCase()).not.toContain(m);
      }

      // hostile requests
      const cookie = `gradia_review_token=${new URL(url).searchParams.get('token')}`;
      expect((await request(port, '/api/study/session')).status).toBe(403); // no token
      expect((await request(port, '/api/study/session', { headers: { cookie, host: `evil.example:${port}` } })).status).toBe(403);
      expect((await request(port, '/study?token=wrong')).status).toBe(403);
      expect((await request(port, `/study?token=${new URL(url).searchParams.get('token')}&annotator=../x`)).status).toBe(400);
      expect((await request(port, '/static/%2e%2e/%2e%2e/package.json', { headers: { cookie } })).status).toBe(400);
      expect((await request(port, '/static/../../package.json', { headers: { cookie } })).status).toBe(400);
      expect((await request(port, '/static/package.json', { headers: { cookie } })).status).toBe(404);
      const body = JSON.stringify({ id: 'h1', item: 2, answers: want('ann'), ms: 1 });
      expect((await request(port, '/api/study/answers', { method: 'POST', body, headers: { cookie, origin: `http://127.0.0.1:${port}`, 'content-type': 'application/json' } })).status).toBe(403); // no X-Gradia-Review
      expect((await request(port, '/api/study/answers', { method: 'POST', body, headers: { cookie, origin: 'http://evil.example', 'x-gradia-review': '1' } })).status).toBe(403);
      expect((await request(port, '/api/study/answers', { method: 'POST', body: 'x'.repeat((1 << 20) + 10), headers: { cookie, origin: `http://127.0.0.1:${port}`, 'x-gradia-review': '1' } })).status).toBe(413);
      const half = JSON.stringify({ id: 'h2', item: 2, answers: want('ann').slice(0, 1), ms: 1 });
      expect((await request(port, '/api/study/answers', { method: 'POST', body: half, headers: { cookie, origin: `http://127.0.0.1:${port}`, 'x-gradia-review': '1' } })).status).toBe(400);
    } finally {
      await browser.close();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }

    // export: the original's columns, answers un-shuffled to model numbers
    const ex = runCli(['review', '--study', '--export', '--data-dir', ds.data]);
    expect(ex.code, ex.stderr).toBe(0);
    const plan = JSON.parse(fs.readFileSync(path.join(ds.data, 'review', 'study', 'study.json'), 'utf8')) as StudyPlan;
    const csv = fs.readFileSync(path.join(ds.data, 'review', 'study', 'results_ann.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe(',img_idx,a_1,a_2,b_1,b_2,c_1,c_2,rnd_order');
    const rnd = (item: number) => `"[${[0, ...slotOrder(plan, item).map((m) => m + 1)].join(', ')}]"`;
    const stem = (item: number) => plan.images[item]!.replace(/\.png$/, '');
    expect(rnd(0)).toBe('"[0, 2, 1]"'); // the plan written above: beta shown first
    expect(csv[1]).toBe(`0,${stem(0)},True,False,False,True,2,4,${rnd(0)}`);
    expect(csv[2]).toBe(`1,${stem(1)},True,False,False,True,2,4,${rnd(1)}`);
    expect(csv[3]).toBe(`2,${stem(2)},,,,,,,${rnd(2)}`);
    const json = JSON.parse(fs.readFileSync(path.join(ds.data, 'review', 'study', 'results.json'), 'utf8'));
    expect(json.models).toEqual([{ number: 1, name: 'modelalpha' }, { number: 2, name: 'modelbeta' }]);
    expect(json.annotators.map((a: { name: string }) => a.name)).toEqual(['ann', 'bob']);
    const bobBeta = json.answers.find((a: { annotator: string; model: string }) => a.annotator === 'bob' && a.model === 'modelbeta');
    expect(bobBeta).toMatchObject({ item: 0, necessary: false, unnecessary: true, rating: 5 });
    expect(bobBeta.ms).toBeGreaterThan(0);

    const ag = runCli(['review', '--agreement', '--data-dir', ds.data, '--model-name', 'nobody']);
    expect(ag.code, ag.stderr).toBe(0);
    // on image 0 both said yes/no for alpha and no/yes for beta: the yes/no kappas are 1; ratings 2,4 vs 3,5
    expect(ag.stdout).toContain('ann / bob: 2 answers in common, rating weighted kappa 0.667');
    expect(ag.stdout).toContain('necessary kappa 1.000, unnecessary kappa 1.000');
  }, 400_000);
});
