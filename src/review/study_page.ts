/// <reference lib="dom" />
/**
 * The blind study page (browser module, served as /static/study_page.js). Per image: the
 * raw image, then each model's Grad-CAM picture under a letter (A, B, C, ... in the
 * server's shuffled slot order) with the original's three questions. Nothing is
 * pre-selected; Submit is enabled only when every question of every picture is answered.
 * An answer not yet confirmed by the server stays in localStorage and is sent again on load.
 */
import { REVIEW_WRITE_HEADER, type StudyAnswer, type StudyAnswerRequest, type StudySession } from './api.js';

const OUTBOX = 'gradia-study-outbox';
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

let shownAt = 0;
let current: StudySession | null = null;

function outbox(): StudyAnswerRequest[] {
  try {
    return JSON.parse(localStorage.getItem(OUTBOX) ?? '[]') as StudyAnswerRequest[];
  } catch {
    return [];
  }
}
function setOutbox(v: StudyAnswerRequest[]): void {
  localStorage.setItem(OUTBOX, JSON.stringify(v));
}

function status(text: string, error = false): void {
  const s = $('status');
  s.textContent = text;
  s.className = error ? 'error' : '';
}

async function send(req: StudyAnswerRequest): Promise<StudySession> {
  const r = await fetch('/api/study/answers', { method: 'POST', headers: { 'content-type': 'application/json', [REVIEW_WRITE_HEADER]: '1' }, body: JSON.stringify(req) });
  if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
  return (await r.json()) as StudySession;
}

/** Sends what an earlier visit could not; returns the newest session, if any was sent. */
async function flush(): Promise<StudySession | null> {
  let last: StudySession | null = null;
  for (const req of outbox()) {
    last = await send(req);
    setOutbox(outbox().filter((x) => x.id !== req.id));
  }
  return last;
}

function radio(group: string, value: string, text: string): HTMLLabelElement {
  const label = document.createElement('label');
  const input = document.createElement('input');
  input.type = 'radio';
  input.name = group;
  input.value = value;
  input.addEventListener('change', refresh);
  label.append(input, ` ${text}`);
  return label;
}

function fieldset(legend: string, group: string, options: [string, string][]): HTMLFieldSetElement {
  const f = document.createElement('fieldset');
  const l = document.createElement('legend');
  l.textContent = legend;
  f.append(l, ...options.map(([v, t]) => radio(group, v, t)));
  return f;
}

function picked(group: string): string | null {
  const el = document.querySelector<HTMLInputElement>(`input[name="${group}"]:checked`);
  return el ? el.value : null;
}

function slotCount(): number {
  return current?.next?.slots.length ?? 0;
}

/** Answers in slot order, or the number of questions still open. */
function collect(): StudyAnswer[] | number {
  let open = 0;
  const out: StudyAnswer[] = [];
  for (let k = 0; k < slotCount(); k++) {
    const a = picked(`nec-${k}`);
    const b = picked(`unn-${k}`);
    const c = picked(`rate-${k}`);
    open += (a === null ? 1 : 0) + (b === null ? 1 : 0) + (c === null ? 1 : 0);
    if (a !== null && b !== null && c !== null) out.push({ necessary: a === 'yes', unnecessary: b === 'yes', rating: Number(c) as StudyAnswer['rating'] });
  }
  return open > 0 ? open : out;
}

function refresh(): void {
  const c = collect();
  const button = $<HTMLButtonElement>('submit');
  button.disabled = typeof c === 'number';
  $('left').textContent = typeof c === 'number' ? `${c} question${c === 1 ? '' : 's'} left` : 'all answered';
}

function render(s: StudySession): void {
  current = s;
  const done = s.next === null ? s.count : s.resumeAt;
  $('where').textContent = s.next ? `image ${s.next.item + 1} of ${s.count}` : `${s.count} of ${s.count}`;
  ($('progress').firstElementChild as HTMLElement).style.width = `${(100 * done) / Math.max(1, s.count)}%`;
  $('who').textContent = `annotator ${s.annotator}`;
  const pics = $('pictures');
  pics.replaceChildren();
  if (!s.next) {
    $('bar').hidden = true;
    const p = document.createElement('p');
    p.textContent = `All ${s.count} images are answered. Thank you!`;
    pics.append(p);
    return;
  }
  $('bar').hidden = false;
  const raw = document.createElement('figure');
  const rawImg = document.createElement('img');
  rawImg.src = `/api/study/items/${s.next.item}/image.png`;
  rawImg.alt = 'the image';
  const rawCap = document.createElement('figcaption');
  rawCap.textContent = 'image';
  raw.append(rawCap, rawImg);
  pics.append(raw);
  s.next.slots.forEach((slot, k) => {
    const fig = document.createElement('figure');
    const cap = document.createElement('figcaption');
    cap.textContent = String.fromCharCode(65 + k);
    const img = document.createElement('img');
    img.src = `/api/study/slots/${slot}.png`;
    img.alt = `focus ${String.fromCharCode(65 + k)}`;
    fig.append(cap, img,
      fieldset('Q1 necessary details?', `nec-${k}`, [['yes', 'yes'], ['no', 'no']]),
      fieldset('Q2 unnecessary details?', `unn-${k}`, [['yes', 'yes'], ['no', 'no']]),
      fieldset('Q3 quality (5 best)', `rate-${k}`, [['1', '1'], ['2', '2'], ['3', '3'], ['4', '4'], ['5', '5']]));
    pics.append(fig);
  });
  shownAt = performance.now();
  refresh();
}

async function submit(): Promise<void> {
  const answers = collect();
  if (typeof answers === 'number' || !current?.next) return;
  const req: StudyAnswerRequest = { id: crypto.randomUUID(), item: current.next.item, answers, ms: Math.round(performance.now() - shownAt) };
  setOutbox([...outbox(), req]);
  $<HTMLButtonElement>('submit').disabled = true;
  status('saving…');
  try {
    const s = await send(req);
    setOutbox(outbox().filter((x) => x.id !== req.id));
    status('saved');
    render(s);
  } catch (e) {
    status(`not saved yet (${(e as Error).message}); it is kept and sent again on reload`, true);
    refresh();
  }
}

async function start(): Promise<void> {
  $('submit').addEventListener('click', () => void submit());
  try {
    await flush();
  } catch (e) {
    status(`an earlier answer could not be sent (${(e as Error).message})`, true);
  }
  const r = await fetch('/api/study/session');
  if (!r.ok) {
    status(`${r.status} ${await r.text()}`, true);
    return;
  }
  render((await r.json()) as StudySession);
}

void start();
