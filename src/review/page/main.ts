/// <reference lib="dom" />
/**
 * The review page: the judging screen (keyboard first) and the switch to the map editor.
 * Every change is an event: stored in the outbox, sent in order, and shown as "saved" only
 * once the server has answered (after its fsync). A 409 answer means another tab changed
 * the image first: the page takes the server's state and says so.
 */
import { MAP_AVOID, MAP_LOOK, type ItemDetail, type ItemState, type Judgement, type ReviewEventRequest, type ReviewEventValue, type SessionInfo, type StreamMessage } from '../api.js';
import { countLabel, labelMapToMask, labelPlane, maskToLabelMap, type Mask } from '../raster.js';
import { byId, canvas, el, kbd, loadImage, typingInField } from './dom.js';
import { Editor } from './editor.js';
import { getJson, newEventId, openStream, outbox, postEvent, type OutboxEntry } from './net.js';

const VIEW = 448;
const OPACITIES = [1, 0.6, 0.3, 0];

interface Pictures { image: HTMLImageElement; overlay: HTMLImageElement }

class ReviewPage {
  private session!: SessionInfo;
  private readonly details = new Map<number, ItemDetail>();
  private readonly pictures = new Map<number, Promise<Pictures>>();
  private index = 0;
  private opacity = 0;
  private outline = false;
  private raw = false;
  private editor: Editor | null = null;
  /** undo (Z): the value each of this tab's changes replaced, newest last */
  private readonly undoStack: { index: number; value: ReviewEventValue }[] = [];
  /** events waiting for the server, in order */
  private queue: OutboxEntry[] = [];
  private sending = false;
  private conflictAt: number | null = null;
  private readonly root = byId<HTMLElement>('app');
  private readonly view = canvas(VIEW, VIEW, 'view');
  private readonly panel = el('div', { class: 'panel', id: 'panel' });

  async start(): Promise<void> {
    this.session = await getJson<SessionInfo>('/api/session');
    byId('who').textContent = `${this.session.annotator} · ${this.session.model.name} (${this.session.model.checkpointId.slice(0, 8)})`;
    // Actions a closed tab never got answered: replayed first (a repeated id is answered as saved).
    this.queue = await outbox.list(this.session.annotator);
    if (this.queue.length) this.setStatus('pending', `replaying ${this.queue.length} unsent change(s)...`);
    await this.flush();
    this.session = await getJson<SessionInfo>('/api/session');
    const fromHash = this.hashIndex();
    const first = fromHash ?? this.session.order[Math.min(this.session.resumeAt, this.session.count - 1)]!;
    openStream((m) => void this.onStream(m));
    window.addEventListener('keydown', (e) => this.onKey(e));
    window.addEventListener('keyup', (e) => this.onKeyUp(e));
    window.addEventListener('hashchange', () => {
      const i = this.hashIndex();
      if (i !== null && i !== this.index) void this.show(i);
    });
    window.addEventListener('online', () => void this.flush());
    await this.show(first);
    if (!this.queue.length && this.statusKind() !== 'error') this.setStatus('saved', this.session.resumeAt >= this.session.count ? 'all images judged' : 'ready');
  }

  private hashIndex(): number | null {
    const m = /^#(\d+)$/.exec(location.hash);
    if (!m) return null;
    const i = Number(m[1]);
    return i < this.session.count ? i : null;
  }

  private async detail(i: number): Promise<ItemDetail> {
    let d = this.details.get(i);
    if (!d) {
      d = await getJson<ItemDetail>(`/api/items/${i}`);
      this.details.set(i, d);
    }
    return d;
  }

  private picturesOf(i: number): Promise<Pictures> {
    let p = this.pictures.get(i);
    if (!p) {
      p = Promise.all([loadImage(`/api/items/${i}/image.png`), loadImage(`/api/items/${i}/overlay.png`)]).then(([image, overlay]) => ({ image, overlay }));
      p.catch(() => this.pictures.delete(i));
      this.pictures.set(i, p);
    }
    return p;
  }

  private position(i: number): number {
    return this.session.order.indexOf(i);
  }

  private async show(i: number): Promise<void> {
    this.index = i;
    this.editor = null;
    if (location.hash !== `#${i}`) history.replaceState(null, '', `#${i}`);
    const [d, pics] = await Promise.all([this.detail(i), this.picturesOf(i)]);
    if (this.index !== i) return;
    this.root.replaceChildren(el('div', { class: 'stage' }, this.view), this.panel);
    this.renderJudging(d, pics);
    // the next image is fetched while this one is looked at
    const next = this.session.order[this.position(i) + 1];
    if (next !== undefined) { void this.detail(next).catch(() => {}); void this.picturesOf(next).catch(() => {}); }
  }

  private async rerender(): Promise<void> {
    if (this.editor) return;
    const d = await this.detail(this.index);
    this.renderJudging(d, await this.picturesOf(this.index));
  }

  private renderJudging(d: ItemDetail, pics: Pictures): void {
    const ctx = this.view.getContext('2d')!;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(pics.image, 0, 0, VIEW, VIEW);
    if (!this.raw) {
      ctx.globalAlpha = OPACITIES[this.opacity]!;
      ctx.drawImage(pics.overlay, 0, 0, VIEW, VIEW);
      ctx.globalAlpha = 1;
    }
    const shownMap = d.state.map ?? d.humanMap;
    const shown = shownMap && labelMapToMask(shownMap);
    if (this.outline && shown) {
      drawOutline(ctx, shown, labelPlane(shown.data, MAP_LOOK), d.state.map ? '#ffb000' : '#00e5ff');
      drawOutline(ctx, shown, labelPlane(shown.data, MAP_AVOID), '#ff2828');
    }
    const avoidPx = shown ? countLabel(shown, MAP_AVOID) : 0;
    const m = this.session.matrix;
    const judged = m[0][0] + m[0][1] + m[1][0] + m[1][1];
    byId('progress-bar').style.width = `${(100 * judged) / this.session.count}%`;
    byId('progress-text').textContent = `${judged} / ${this.session.count} judged`;
    const cls = this.session.classes;
    const accurate = d.pred === d.label;
    const s = d.state;
    const hasMap = !s.removed && (s.map !== null || d.humanMap !== null);
    const verdict = s.judgement
      ? el('div', { class: `verdict ${s.judgement}`, id: 'verdict' }, `${s.judgement === 'reasonable' ? 'Reasonable' : 'Unreasonable'} ${accurate ? 'Accurate' : 'Inaccurate'}`)
      : el('div', { class: 'verdict muted', id: 'verdict' }, 'not judged yet');
    const w = s.judgement ? (hasMap ? d.weightsIf[s.judgement] : { predWeight: 1, attWeight: 0 }) : null;
    const pos = this.position(d.index);
    this.panel.replaceChildren(
      el('h2', { id: 'image-name' }, d.image),
      el('div', { class: 'muted', id: 'position' }, `image ${pos + 1} of ${this.session.count} (index ${d.index})`),
      s.removed ? el('div', { class: 'removed-banner', id: 'removed' }, 'removed: no human map in phase 2 (X restores)') : '',
      this.conflictAt === d.index ? el('div', { class: 'conflict', id: 'conflict' }, 'Conflict: another tab changed this image first. Showing its state now; your change was not saved.') : '',
      el('table', {},
        el('tr', {}, el('th', {}, 'true label'), el('td', { id: 'label' }, cls[d.label] ?? String(d.label))),
        el('tr', {}, el('th', {}, 'prediction'), el('td', { id: 'pred' }, `${cls[d.pred] ?? d.pred} `, el('span', { class: accurate ? 'right' : 'wrong' }, accurate ? '✓ right' : '✗ wrong'))),
        el('tr', {}, el('th', {}, 'probability'), el('td', { id: 'prob' }, d.prob.toFixed(3))),
        el('tr', {}, el('th', {}, 'human map'), el('td', { id: 'human-map' }, s.map ? 'redrawn' : d.humanMap ? 'yes' : 'none',
          avoidPx ? el('span', { class: 'muted' }, ` · with "do not look here" (${avoidPx} px, red outline under M)`) : ''))),
      verdict,
      w ? el('div', { id: 'weights' }, `phase 2 weights: prediction ${w.predWeight}, attention ${w.attWeight}${hasMap ? '' : ' (no map)'}`) : el('div', { id: 'weights', class: 'muted' }, 'phase 2 weights follow from the judgement'),
      el('h3', {}, 'Your reasonability matrix'),
      el('table', { class: 'matrix', id: 'matrix' },
        el('tr', {}, el('th', {}, ''), el('th', {}, 'reasonable'), el('th', {}, 'unreasonable')),
        el('tr', {}, el('th', {}, 'accurate'), el('td', {}, String(m[0][0])), el('td', {}, String(m[0][1]))),
        el('tr', {}, el('th', {}, 'inaccurate'), el('td', {}, String(m[1][0])), el('td', {}, String(m[1][1])))),
      el('ul', { class: 'keys' },
        el('li', {}, kbd('R'), ' / ', kbd('Y'), ' reasonable'),
        el('li', {}, kbd('U'), ' / ', kbd('N'), ' unreasonable'),
        el('li', {}, kbd('←'), ' ', kbd('→'), ' previous / next'),
        el('li', {}, kbd('Z'), ' undo'),
        el('li', {}, kbd('X'), ' remove / restore'),
        el('li', {}, kbd('D'), ' redraw the map'),
        el('li', {}, 'hold ', kbd('Space'), ' raw image'),
        el('li', {}, kbd('O'), ` overlay ${Math.round(100 * OPACITIES[this.opacity]!)}%`),
        el('li', {}, kbd('M'), ` map outline ${this.outline ? 'on' : 'off'}`)),
    );
  }

  private onKey(e: KeyboardEvent): void {
    if (typingInField(e)) return;
    if (this.editor) {
      if (this.editor.onKey(e)) e.preventDefault();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (k === ' ') {
      e.preventDefault();
      if (!this.raw) { this.raw = true; void this.rerender(); }
      return;
    }
    if (k === 'ArrowRight' || k === 'ArrowDown') { e.preventDefault(); this.step(1); return; }
    if (k === 'ArrowLeft' || k === 'ArrowUp') { e.preventDefault(); this.step(-1); return; }
    if (e.repeat) return; // a held key acts once
    switch (k) {
      case 'r': case 'y': this.judge('reasonable'); break;
      case 'u': case 'n': this.judge('unreasonable'); break;
      case 'x': void this.toggleRemoved(); break;
      case 'z': void this.undo(); break;
      case 'o': this.opacity = (this.opacity + 1) % OPACITIES.length; void this.rerender(); break;
      case 'm': this.outline = !this.outline; void this.rerender(); break;
      case 'd': void this.openEditor(); break;
      default: return;
    }
    e.preventDefault();
  }

  private onKeyUp(e: KeyboardEvent): void {
    if (e.key === ' ' && this.raw) { this.raw = false; void this.rerender(); }
  }

  private step(delta: number): void {
    const pos = this.position(this.index) + delta;
    if (pos >= 0 && pos < this.session.count) void this.show(this.session.order[pos]!);
  }

  private judge(j: Judgement): void {
    const d = this.details.get(this.index);
    if (!d) return;
    this.change(d, { kind: 'judge', judgement: j }, { kind: 'judge', judgement: d.state.judgement });
    this.step(1);
  }

  private async toggleRemoved(): Promise<void> {
    const d = await this.detail(this.index);
    this.change(d, { kind: 'remove', removed: !d.state.removed }, { kind: 'remove', removed: d.state.removed });
  }

  private async undo(): Promise<void> {
    const u = this.undoStack.pop();
    if (!u) { this.setStatus('pending', 'nothing to undo'); return; }
    if (u.index !== this.index) await this.show(u.index);
    this.change(await this.detail(u.index), u.value, null);
  }

  private async openEditor(): Promise<void> {
    const d = await this.detail(this.index);
    const pics = await this.picturesOf(this.index);
    this.editor = new Editor({
      detail: d,
      grid: this.session.grid,
      image: pics.image,
      root: this.root,
      save: (mask: Mask) => {
        this.change(d, { kind: 'map', map: maskToLabelMap(mask) }, { kind: 'map', map: d.state.map });
        void this.show(d.index);
      },
      close: () => void this.show(d.index),
    });
  }

  /**
   * Records a change of image `d`: kept in the outbox, sent in order, shown once answered.
   * Its base revision counts this tab's own changes of the image still on their way.
   */
  private change(d: ItemDetail, value: ReviewEventValue, undoValue: ReviewEventValue | null): void {
    const pending = this.queue.filter((q) => q.req.index === d.index).length;
    const req: ReviewEventRequest = { id: newEventId(), index: d.index, baseRevision: d.state.revision + pending, value };
    const entry: OutboxEntry = { id: req.id, annotator: this.session.annotator, at: Date.now(), req };
    if (undoValue) this.undoStack.push({ index: d.index, value: undoValue });
    if (this.conflictAt === d.index) this.conflictAt = null;
    this.queue.push(entry);
    this.setStatus('pending', 'saving...');
    void outbox.put(entry).catch(() => {}).then(() => this.flush());
    void this.rerender();
  }

  /** Sends the queued events one by one; stops (and retries later) when the server cannot be reached. */
  private async flush(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.queue.length) {
        const entry = this.queue[0]!;
        const r = await postEvent(entry.req);
        if (r.kind === 'offline') {
          this.setStatus('error', `not saved yet: server unreachable, ${this.queue.length} change(s) kept, retrying`);
          setTimeout(() => void this.flush(), 2000);
          return;
        }
        this.queue.shift();
        await outbox.delete(entry.id).catch(() => {});
        const i = entry.req.index;
        if (r.kind === 'saved') {
          this.session.matrix = r.answer.matrix;
          this.applyState(i, r.answer.state);
          if (!this.queue.length) this.setStatus('saved', `saved (#${r.answer.seq})`);
        } else if (r.kind === 'conflict') {
          // this tab's other changes of the image were based on the lost one: drop them
          const stale = this.queue.filter((q) => q.req.index === i);
          this.queue = this.queue.filter((q) => q.req.index !== i);
          for (const q of stale) await outbox.delete(q.id).catch(() => {});
          this.applyState(i, r.answer.state);
          this.conflictAt = i;
          this.setStatus('error', `conflict on image ${i}: not saved`);
          this.session = await getJson<SessionInfo>('/api/session');
          // the person sees the image whose change was refused, with its current state
          if (!this.editor && i !== this.index) await this.show(i);
        } else {
          this.setStatus('error', `refused (${r.status}): ${r.error}`);
        }
        if (i === this.index) await this.rerender();
        else if (!this.editor) await this.rerender(); // progress and matrix
      }
    } finally {
      this.sending = false;
    }
  }

  private applyState(i: number, state: ItemState): void {
    const d = this.details.get(i);
    if (d && state.revision >= d.state.revision) d.state = state;
  }

  private async onStream(m: StreamMessage): Promise<void> {
    const d = this.details.get(m.index);
    if (!d || m.state.revision <= d.state.revision) return;
    if (this.queue.some((q) => q.req.index === m.index)) return; // our own change on its way
    d.state = m.state;
    this.session = await getJson<SessionInfo>('/api/session');
    await this.rerender();
  }

  private setStatus(kind: 'saved' | 'pending' | 'error', text: string): void {
    const s = byId('status');
    s.className = kind;
    s.textContent = text;
    s.title = text;
  }

  private statusKind(): string {
    return byId('status').className;
  }
}

/** A 0/1 plane's boundary pixels (set, with an unset 4-neighbour), drawn at the view's scale. */
function drawOutline(ctx: CanvasRenderingContext2D, m: Mask, plane: Uint8Array, colour: string): void {
  const sx = VIEW / m.w;
  const sy = VIEW / m.h;
  ctx.fillStyle = colour;
  for (let y = 0; y < m.h; y++) {
    for (let x = 0; x < m.w; x++) {
      if (!plane[y * m.w + x]) continue;
      const edge = x === 0 || y === 0 || x === m.w - 1 || y === m.h - 1 || !plane[y * m.w + x - 1] || !plane[y * m.w + x + 1] || !plane[(y - 1) * m.w + x] || !plane[(y + 1) * m.w + x];
      if (edge) ctx.fillRect(x * sx, y * sy, Math.max(1, sx), Math.max(1, sy));
    }
  }
}

new ReviewPage().start().catch((e: unknown) => {
  byId('app').replaceChildren(el('p', { class: 'wrong' }, `The page could not start: ${(e as Error).message}`));
});
