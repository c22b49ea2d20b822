/// <reference lib="dom" />
/**
 * The map editor (D on the judging screen). The mask lives at the map's own resolution
 * and is changed only by the rasteriser (raster.ts); the canvas merely shows it. Beside it:
 * the IoU with the model's Grad-CAM exactly as `evaluate` computes it (iou.ts) and the
 * G x G target phase 2 will train on, made by the trainer's own code (attention_target.ts),
 * with the cells RES's objectives label "do not look here" (res_target.ts) marked.
 * Two labels to paint: "look here" (amber) and "do not look here" (red stripes, -1 in the
 * JSON). B and N pick the label with the brush; the polygon fills with the label picked last.
 */
import { MAP_AVOID, MAP_LOOK, MAP_NONE, type ItemDetail, type MapLabel } from '../api.js';
import { attentionTarget } from '../../data/attention_target.js';
import { camIoU, camMask } from '../../data/iou.js';
import { resTarget } from '../../data/res_target.js';
import { MapHistory } from '../map_history.js';
import { countLabel, emptyMask, fillHoles, labelMapToMask, paintPolygon, paintStroke, snapToCorner, toAttentionMap, type Mask, type Point } from '../raster.js';
import { canvas, el, kbd } from './dom.js';

export type Tool = 'brush' | 'eraser' | 'polygon';
type PaintLabel = typeof MAP_LOOK | typeof MAP_AVOID;

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
  /** what the brush and the polygon paint */
  label: PaintLabel = MAP_LOOK;
  size: number;
  private readonly h: number;
  private readonly w: number;
  /** CSS pixels per map pixel */
  private readonly scale: number;
  private readonly view: HTMLCanvasElement;
  private readonly layer: HTMLCanvasElement;
  /** red stripes over a dimmed view, drawn once at the view's size */
  private readonly stripePattern: HTMLCanvasElement;
  /** the pattern cut to the "do not look here" pixels */
  private readonly stripes: HTMLCanvasElement;
  private readonly panel: HTMLElement;
  private stroke: { last: Point; value: MapLabel } | null = null;
  private polygon: Point[] = [];
  private hover: Point | null = null;
  private message = '';

  constructor(private readonly host: EditorHost) {
    const { h, w } = host.detail.mapShape;
    this.h = h;
    this.w = w;
    const start = host.detail.state.map ?? host.detail.humanMap;
    const initial = (start && labelMapToMask(start)) || emptyMask(h, w);
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
    this.stripePattern = stripeCanvas(this.view.width, this.view.height);
    this.stripes = document.createElement('canvas');
    this.stripes.width = this.view.width;
    this.stripes.height = this.view.height;
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
    const value = this.tool === 'eraser' ? MAP_NONE : this.label;
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
      const label = this.label;
      this.history.step((m) => paintPolygon(m, vs, label));
    }
    this.polygon = [];
  }

  /** GRADIA's phase-2 target of the current mask ("look here" only), or null when it is all zero. */
  target(): Float32Array | null {
    return attentionTarget(toAttentionMap(this.mask), this.host.grid);
  }

  /** RES's objectives' target ({-1, 0, 1} by nearest neighbour), or null when nothing is left at the grid. */
  resTarget(): Float32Array | null {
    return resTarget(toAttentionMap(this.mask), this.host.grid);
  }

  /** IoU of the "look here" region with the model's Grad-CAM, as `evaluate` computes it. */
  iou(): number {
    return camIoU(Float32Array.from(this.host.detail.cam), this.host.grid, toAttentionMap(this.mask));
  }

  startFrom(what: 'human' | 'model' | 'empty'): void {
    const { h, w } = this;
    if (what === 'human') {
      const m = this.host.detail.humanMap && labelMapToMask(this.host.detail.humanMap);
      if (!m) { this.message = 'this image has no human map'; this.render(); return; }
      this.history.replace(m.data);
    } else if (what === 'model') this.history.replace(camMask(Float32Array.from(this.host.detail.cam), this.host.grid, h, w));
    else this.history.replace(new Uint8Array(h * w));
    this.polygon = [];
    this.render();
  }

  private trySave(): void {
    if (this.polygon.length) { this.message = 'finish the polygon first (Enter) or drop it (Esc)'; this.render(); return; }
    if (!this.target() && !this.resTarget()) {
      this.message = 'not saved: at the model\'s grid this map has no label left, so phase 2 would skip it under every objective. Draw more, or remove the sample (X on the judging screen).';
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
      case 'b': case 'B': this.setTool('brush', MAP_LOOK); return true;
      case 'n': case 'N': this.setTool('brush', MAP_AVOID); return true;
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

  /** Picks a tool (and, for the brush, its label); the polygon keeps the label picked last. */
  private setTool(t: Tool, label?: PaintLabel): void {
    this.tool = t;
    if (label !== undefined) this.label = label;
    if (t !== 'polygon') this.polygon = [];
    this.render();
  }

  /** One label's pixels on the map-sized layer, in `rgba` (others transparent). */
  private paintLayer(label: MapLabel, rgba: readonly [number, number, number, number]): void {
    const lctx = this.layer.getContext('2d')!;
    const img = lctx.createImageData(this.w, this.h);
    const d = this.mask.data;
    for (let i = 0; i < d.length; i++) {
      if (d[i] !== label) continue;
      for (let c = 0; c < 4; c++) img.data[i * 4 + c] = rgba[c]!;
    }
    lctx.putImageData(img, 0, 0);
  }

  /**
   * Canvas: the image, "look here" in amber, "do not look here" as red stripes (as
   * `evaluate`'s pictures hatch negative labels), the polygon being drawn, the brush outline.
   */
  draw(): void {
    const ctx = this.view.getContext('2d')!;
    const W = this.view.width;
    const H = this.view.height;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(this.host.image, 0, 0, W, H);
    ctx.imageSmoothingEnabled = false;
    this.paintLayer(MAP_LOOK, [255, 176, 0, 150]);
    ctx.drawImage(this.layer, 0, 0, W, H);
    if (this.mask.data.includes(MAP_AVOID)) {
      // the stripes, kept only where the (map-sized) avoid layer is
      this.paintLayer(MAP_AVOID, [0, 0, 0, 255]);
      const sctx = this.stripes.getContext('2d')!;
      sctx.globalCompositeOperation = 'copy';
      sctx.drawImage(this.stripePattern, 0, 0);
      sctx.globalCompositeOperation = 'destination-in';
      sctx.imageSmoothingEnabled = false;
      sctx.drawImage(this.layer, 0, 0, W, H);
      ctx.drawImage(this.stripes, 0, 0);
    }
    const s = this.scale;
    if (this.polygon.length) {
      const colour = this.label === MAP_AVOID ? '#ff2828' : '#00e5ff';
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.lineWidth = 2;
      ctx.beginPath();
      this.polygon.forEach((p, i) => (i ? ctx.lineTo(p.x * s, p.y * s) : ctx.moveTo(p.x * s, p.y * s)));
      if (this.hover) { const c = snapToCorner(this.hover); ctx.lineTo(c.x * s, c.y * s); }
      ctx.stroke();
      for (const p of this.polygon) ctx.fillRect(p.x * s - 3, p.y * s - 3, 6, 6);
    } else if (this.hover && this.tool !== 'polygon') {
      ctx.strokeStyle = this.tool === 'eraser' ? '#ffffff' : this.label === MAP_AVOID ? '#ff2828' : '#ffd54f';
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
    const res = this.resTarget();
    const avoidCells = res ? res.reduce((n, v) => n + (v < 0 ? 1 : 0), 0) : 0;
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
      if (res && res[i]! < 0) {
        cell.classList.add('avoid');
        cell.title = 'do not look here (RES\'s target -1)';
      }
      grid.append(cell);
    }
    const iou = this.iou();
    this.panel.replaceChildren(
      el('h2', {}, `Redraw attention: ${d.image}`),
      el('div', { class: 'muted', id: 'map-counts' }, `map ${this.h} x ${this.w} px: `,
        el('span', { class: 'swatch look' }), `${countLabel(this.mask, MAP_LOOK)} px look here, `,
        el('span', { class: 'swatch avoid' }), `${countLabel(this.mask, MAP_AVOID)} px do not look here`),
      el('div', { class: 'toolbar' },
        button('Look here', 'B', this.tool === 'brush' && this.label === MAP_LOOK, () => this.setTool('brush', MAP_LOOK)),
        button('Do not look here', 'N', this.tool === 'brush' && this.label === MAP_AVOID, () => this.setTool('brush', MAP_AVOID)),
        button('Eraser', 'E', this.tool === 'eraser', () => this.setTool('eraser')),
        button(`Polygon (${this.label === MAP_AVOID ? 'do not look' : 'look here'})`, 'P', this.tool === 'polygon', () => this.setTool('polygon')),
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
      el('div', { class: 'hint', id: 'avoid-cells' }, avoidCells ? `red-framed cells: "do not look here" at ${g} x ${g} for RES's objectives (${avoidCells})` : countLabel(this.mask, MAP_AVOID) ? `no "do not look here" cell survives RES's nearest-neighbour resize to ${g} x ${g}` : ''),
      this.message ? el('div', { class: 'conflict', id: 'editor-message' }, this.message) : '',
      el('div', { class: 'toolbar' },
        button('Save', 'Enter', false, () => this.trySave(), !target && !res),
        button('Back', 'Esc', false, () => this.host.close())),
      el('div', { class: 'hint' }, this.tool === 'polygon' ? `click corners; click the first corner or press Enter to close (fills ${this.label === MAP_AVOID ? '"do not look here"' : '"look here"'}: B or N picks); Esc drops it` : 'drag to paint; a pixel is painted when its centre is under the brush'),
    );
    this.message = '';
  }
}

/** Red diagonal stripes over a dimmed ground, w x h. */
function stripeCanvas(w: number, h: number): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  const ctx = c.getContext('2d')!;
  ctx.fillStyle = 'rgba(40, 40, 40, 0.45)';
  ctx.fillRect(0, 0, w, h);
  ctx.strokeStyle = 'rgb(255, 40, 40)';
  ctx.lineWidth = 3;
  ctx.beginPath();
  for (let k = -h; k < w; k += 9) { ctx.moveTo(k, h); ctx.lineTo(k + h, 0); }
  ctx.stroke();
  return c;
}

const fillHolesOf = (m: Mask) => fillHoles(m);
const samePoint = (a: Point, b: Point) => a.x === b.x && a.y === b.y;
