/// <reference lib="dom" />
/**
 * The map editor (D on the judging screen). The mask lives at the map's own resolution
 * and is changed only by the rasteriser (raster.ts); the canvas merely shows it. Beside it:
 * the IoU with the model's Grad-CAM exactly as `evaluate` computes it (iou.ts) and the
 * G x G target phase 2 will train on, made by the trainer's own code (attention_target.ts).
 */
import type { ItemDetail } from '../api.js';
import { attentionTarget } from '../../data/attention_target.js';
import { camIoU, camMask } from '../../data/iou.js';
import { MapHistory } from '../map_history.js';
import { binaryMapToMask, countSet, emptyMask, fillHoles, paintPolygon, paintStroke, snapToCorner, toAttentionMap, type Mask, type Point } from '../raster.js';
import { canvas, el, kbd } from './dom.js';

export type Tool = 'brush' | 'eraser' | 'polygon';

export interface EditorHost {
  detail: ItemDetail;
  grid: number;
  /** the raw image (as the trainer decodes it) */
  image: HTMLImageElement;
  root: HTMLElement;
  save(mask: Mask): void;
  close(): void;
}

const SIZES = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48];
const DISPLAY = 448;

export class Editor {
  readonly history: MapHistory;
  tool: Tool = 'brush';
  size: number;
  private readonly h: number;
  private readonly w: number;
  /** CSS pixels per map pixel */
  private readonly scale: number;
  private readonly view: HTMLCanvasElement;
  private readonly layer: HTMLCanvasElement;
  private readonly panel: HTMLElement;
  private stroke: { last: Point; value: 0 | 1 } | null = null;
  private polygon: Point[] = [];
  private hover: Point | null = null;
  private message = '';

  constructor(private readonly host: EditorHost) {
    const { h, w } = host.detail.mapShape;
    this.h = h;
    this.w = w;
    const start = host.detail.state.map ?? host.detail.humanMap;
    const initial = (start && binaryMapToMask(start)) || emptyMask(h, w);
    this.history = new MapHistory(initial.h === h && initial.w === w ? initial : emptyMask(h, w));
    this.size = SIZES.reduce((best, s) => (Math.abs(s - Math.min(h, w) / 16) < Math.abs(best - Math.min(h, w) / 16) ? s : best), 1);
    const fit = DISPLAY / Math.max(h, w);
    this.scale = fit >= 1 ? Math.floor(fit) : fit;
    this.view = canvas(Math.round(w * this.scale), Math.round(h * this.scale), 'editor-canvas');
    this.view.style.cursor = 'crosshair';
    this.view.style.touchAction = 'none';
    this.layer = document.createElement('canvas');
    this.layer.width = w;
    this.layer.height = h;
    this.panel = el('div', { class: 'panel', id: 'editor-panel' });
    host.root.replaceChildren(el('div', { class: 'stage' }, this.view), this.panel);
    this.view.addEventListener('pointerdown', (e) => this.down(e));
    this.view.addEventListener('pointermove', (e) => this.move(e));
    this.view.addEventListener('pointerup', () => this.up());
    this.view.addEventListener('pointercancel', () => this.up());
    this.view.addEventListener('pointerleave', () => { this.hover = null; this.draw(); });
    this.render();
  }

  get mask(): Mask {
    return this.history.mask;
  }

  private toMap(e: PointerEvent): Point {
    return { x: e.offsetX / this.scale, y: e.offsetY / this.scale };
  }

  private down(e: PointerEvent): void {
    if (e.button !== 0) return;
    const p = this.toMap(e);
    if (this.tool === 'polygon') {
      const v = snapToCorner(p);
      const first = this.polygon[0];
      if (first && this.polygon.length >= 3 && first.x === v.x && first.y === v.y) this.closePolygon();
      else if (!this.polygon.length || !samePoint(this.polygon[this.polygon.length - 1]!, v)) this.polygon.push(v);
      this.render();
      return;
    }
    this.view.setPointerCapture(e.pointerId);
    const value = this.tool === 'brush' ? 1 : 0;
    this.history.begin();
    paintStroke(this.mask, [p], this.size, value);
    this.stroke = { last: p, value };
    this.draw();
  }

  private move(e: PointerEvent): void {
    const p = this.toMap(e);
    this.hover = p;
    if (this.stroke) {
      // a stroke is the union of its segments' capsules: painting segment by segment is exact
      paintStroke(this.mask, [this.stroke.last, p], this.size, this.stroke.value);
      this.stroke.last = p;
    }
    this.draw();
  }

  private up(): void {
    if (!this.stroke) return;
    this.stroke = null;
    this.history.commit();
    this.render();
  }

  private closePolygon(): void {
    if (this.polygon.length >= 3) {
      const vs = this.polygon;
      this.history.step((m) => paintPolygon(m, vs, 1));
    }
    this.polygon = [];
  }

  /** The phase-2 target of the current mask, or null when it is all zero (phase 2 skips it). */
  target(): Float32Array | null {
    return attentionTarget(toAttentionMap(this.mask), this.host.grid);
  }

  iou(): number {
    return camIoU(Float32Array.from(this.host.detail.cam), this.host.grid, this.mask);
  }

  startFrom(what: 'human' | 'model' | 'empty'): void {
    const { h, w } = this;
    if (what === 'human') {
      const m = this.host.detail.humanMap && binaryMapToMask(this.host.detail.humanMap);
      if (!m) { this.message = 'this image has no human map'; this.render(); return; }
      this.history.replace(m.data);
    } else if (what === 'model') this.history.replace(camMask(Float32Array.from(this.host.detail.cam), this.host.grid, h, w));
    else this.history.replace(new Uint8Array(h * w));
    this.polygon = [];
    this.render();
  }

  private trySave(): void {
    if (this.polygon.length) { this.message = 'finish the polygon first (Enter) or drop it (Esc)'; this.render(); return; }
    if (!this.target()) {
      this.message = 'not saved: at the model\'s grid this map is all zero, so phase 2 would skip it. Draw more, or remove the sample (X on the judging screen).';
      this.render();
      return;
    }
    this.host.save(this.history.snapshot());
  }

  /** Keyboard of the editor; true when the key was used. */
  onKey(e: KeyboardEvent): boolean {
    const k = e.key;
    if ((e.ctrlKey || e.metaKey) && (k === 'z' || k === 'Z')) { e.shiftKey ? this.history.redo() : this.history.undo(); this.render(); return true; }
    if ((e.ctrlKey || e.metaKey) && (k === 'y' || k === 'Y')) { this.history.redo(); this.render(); return true; }
    if (e.ctrlKey || e.metaKey || e.altKey) return false;
    switch (k) {
      case 'b': case 'B': this.setTool('brush'); return true;
      case 'e': case 'E': this.setTool('eraser'); return true;
      case 'p': case 'P': this.setTool('polygon'); return true;
      case 'f': case 'F': this.history.step((m) => fillHolesOf(m)); this.render(); return true;
      case 'c': case 'C': this.history.replace(new Uint8Array(this.h * this.w)); this.polygon = []; this.render(); return true;
      case 'z': this.history.undo(); this.render(); return true;
      case 'Z': this.history.redo(); this.render(); return true;
      case '[': this.size = SIZES[Math.max(0, SIZES.indexOf(this.size) - 1)]!; this.render(); return true;
      case ']': this.size = SIZES[Math.min(SIZES.length - 1, SIZES.indexOf(this.size) + 1)]!; this.render(); return true;
      case '1': this.startFrom('human'); return true;
      case '2': this.startFrom('model'); return true;
      case '3': this.startFrom('empty'); return true;
      case 'Enter':
        if (this.polygon.length) { this.closePolygon(); this.render(); } else this.trySave();
        return true;
      case 'Escape':
        if (this.polygon.length) { this.polygon = []; this.render(); } else this.host.close();
        return true;
      default:
        return false;
    }
  }

  private setTool(t: Tool): void {
    this.tool = t;
    if (t !== 'polygon') this.polygon = [];
    this.render();
  }

  /** Canvas: the image, the mask in amber, the polygon being drawn, the brush outline. */
  draw(): void {
    const ctx = this.view.getContext('2d')!;
    const W = this.view.width;
    const H = this.view.height;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(this.host.image, 0, 0, W, H);
    const lctx = this.layer.getContext('2d')!;
    const img = lctx.createImageData(this.w, this.h);
    const d = this.mask.data;
    for (let i = 0; i < d.length; i++) {
      if (!d[i]) continue;
      img.data[i * 4] = 255;
      img.data[i * 4 + 1] = 176;
      img.data[i * 4 + 2] = 0;
      img.data[i * 4 + 3] = 150;
    }
    lctx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.layer, 0, 0, W, H);
    const s = this.scale;
    if (this.polygon.length) {
      ctx.strokeStyle = '#00e5ff';
      ctx.fillStyle = '#00e5ff';
      ctx.lineWidth = 2;
      ctx.beginPath();
      this.polygon.forEach((p, i) => (i ? ctx.lineTo(p.x * s, p.y * s) : ctx.moveTo(p.x * s, p.y * s)));
      if (this.hover) { const c = snapToCorner(this.hover); ctx.lineTo(c.x * s, c.y * s); }
      ctx.stroke();
      for (const p of this.polygon) ctx.fillRect(p.x * s - 3, p.y * s - 3, 6, 6);
    } else if (this.hover && this.tool !== 'polygon') {
      ctx.strokeStyle = this.tool === 'brush' ? '#ffd54f' : '#ffffff';
      ctx.lineWidth = 1;
      ctx.beginPath();
      const cx = (Math.floor(this.hover.x) + 0.5) * s;
      const cy = (Math.floor(this.hover.y) + 0.5) * s;
      ctx.arc(cx, cy, Math.max(0.5, this.size / 2) * s, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  /** Canvas and panel. */
  render(): void {
    this.draw();
    const d = this.host.detail;
    const target = this.target();
    const button = (label: string, key: string, on: boolean, act: () => void, disabled = false) => {
      const b = el('button', { type: 'button', class: on ? 'on' : '' }, `${label} `, kbd(key));
      b.disabled = disabled;
      b.addEventListener('click', () => { act(); this.render(); });
      return b;
    };
    const g = this.host.grid;
    const grid = el('div', { class: 'target', id: 'target-grid' });
    grid.style.gridTemplateColumns = `repeat(${g}, 34px)`;
    for (let i = 0; i < g * g; i++) {
      const v = target ? target[i]! : 0;
      const cell = el('div', {}, v.toFixed(2));
      const shade = Math.round(255 - 200 * v);
      cell.style.background = `rgb(${shade}, ${shade}, 255)`;
      cell.style.color = v > 0.6 ? '#fff' : '#333';
      grid.append(cell);
    }
    const iou = this.iou();
    this.panel.replaceChildren(
      el('h2', {}, `Redraw attention: ${d.image}`),
      el('div', { class: 'muted' }, `map ${this.h} x ${this.w} px, ${countSet(this.mask)} px set`),
      el('div', { class: 'toolbar' },
        button('Brush', 'B', this.tool === 'brush', () => this.setTool('brush')),
        button('Eraser', 'E', this.tool === 'eraser', () => this.setTool('eraser')),
        button('Polygon', 'P', this.tool === 'polygon', () => this.setTool('polygon')),
        el('span', { id: 'brush-size' }, 'size ', kbd('['), ` ${this.size} px `, kbd(']'))),
      el('div', { class: 'toolbar' },
        button('Fill holes', 'F', false, () => this.history.step((m) => fillHolesOf(m))),
        button('Clear', 'C', false, () => this.history.replace(new Uint8Array(this.h * this.w))),
        button('Undo', 'Z', false, () => this.history.undo(), !this.history.canUndo),
        button('Redo', '⇧Z', false, () => this.history.redo(), !this.history.canRedo)),
      el('div', { class: 'toolbar' }, el('span', { class: 'muted' }, 'start from'),
        button('human map', '1', false, () => this.startFrom('human'), !d.humanMap),
        button('Grad-CAM', '2', false, () => this.startFrom('model')),
        button('empty', '3', false, () => this.startFrom('empty'))),
      el('table', {},
        el('tr', {}, el('th', {}, 'IoU with the model'), el('td', { id: 'live-iou', class: 'big' }, iou.toFixed(3))),
        el('tr', {}, el('th', {}, `phase-2 target (${g} x ${g})`), el('td', {}, target ? 'as the trainer computes it' : el('span', { class: 'wrong' }, 'all zero')))),
      grid,
      this.message ? el('div', { class: 'conflict', id: 'editor-message' }, this.message) : '',
      el('div', { class: 'toolbar' },
        button('Save', 'Enter', false, () => this.trySave(), !target),
        button('Back', 'Esc', false, () => this.host.close())),
      el('div', { class: 'hint' }, this.tool === 'polygon' ? 'click corners; click the first corner or press Enter to close; Esc drops it' : 'drag to paint; a pixel is in when its centre is under the brush'),
    );
    this.message = '';
  }
}

const fillHolesOf = (m: Mask) => fillHoles(m);
const samePoint = (a: Point, b: Point) => a.x === b.x && a.y === b.y;
