/**
 * The map editor's rasteriser: shapes become 0/1 pixels at the map's own resolution, in
 * code (never read back from a canvas, no antialiasing). A pixel is in a shape when its
 * centre (x + 0.5, y + 0.5) is inside. Pure: the page and the tests run the same module.
 *
 * Coordinates are in map pixels: x to the right in [0, w], y down in [0, h]. Pixels hold a
 * MapLabel (api.ts): 0 none, 1 "look here", 2 "do not look here" (-1 in GRADIA's JSON).
 */
import { MAP_AVOID, MAP_LOOK, MAP_NONE, type MapLabel } from './api.js';
import type { HumanMap } from '../data/types.js';

export interface Mask {
  h: number;
  w: number;
  /** row-major, one MapLabel per pixel (0 none, 1 look here, 2 do not look here) */
  data: Uint8Array;
}

export interface Point {
  x: number;
  y: number;
}

export const emptyMask = (h: number, w: number): Mask => ({ h, w, data: new Uint8Array(h * w) });
export const copyMask = (m: Mask): Mask => ({ h: m.h, w: m.w, data: m.data.slice() });

/** Squared distance from (px, py) to the segment a-b. */
function segmentDistance2(px: number, py: number, a: Point, b: Point): number {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len2 = dx * dx + dy * dy;
  let t = len2 > 0 ? ((px - a.x) * dx + (py - a.y) * dy) / len2 : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  const ex = a.x + t * dx - px;
  const ey = a.y + t * dy - py;
  return ex * ex + ey * ey;
}

/** The centre of the pixel holding a point (clamped into the map). */
export function pixelCentre(p: Point, h: number, w: number): Point {
  const x = Math.min(w - 1, Math.max(0, Math.floor(p.x)));
  const y = Math.min(h - 1, Math.max(0, Math.floor(p.y)));
  return { x: x + 0.5, y: y + 0.5 };
}

/**
 * A brush (value 1 or 2) or eraser (value 0) stroke of diameter `size` map pixels through
 * `points`. Each point is first moved to the centre of its pixel, so a size-1 stroke sets
 * exactly the pixels under the pointer and the 8-connected line between them; a pixel is
 * covered when its centre lies within size/2 of the polyline.
 */
export function paintStroke(mask: Mask, points: readonly Point[], size: number, value: MapLabel): void {
  if (points.length === 0) return;
  const r = Math.max(0.5, size / 2);
  const r2 = r * r + 1e-9; // a centre exactly on the rim is in
  const pts = points.map((p) => pixelCentre(p, mask.h, mask.w));
  const segs: [Point, Point][] = pts.length === 1 ? [[pts[0]!, pts[0]!]] : pts.slice(1).map((p, i) => [pts[i]!, p]);
  for (const [a, b] of segs) {
    const x0 = Math.max(0, Math.floor(Math.min(a.x, b.x) - r));
    const x1 = Math.min(mask.w - 1, Math.ceil(Math.max(a.x, b.x) + r));
    const y0 = Math.max(0, Math.floor(Math.min(a.y, b.y) - r));
    const y1 = Math.min(mask.h - 1, Math.ceil(Math.max(a.y, b.y) + r));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        if (segmentDistance2(x + 0.5, y + 0.5, a, b) <= r2) mask.data[y * mask.w + x] = value;
      }
    }
  }
}

/** Polygon vertices snap to pixel corners, so a drawn polygon's pixels can be counted by hand. */
export const snapToCorner = (p: Point): Point => ({ x: Math.round(p.x), y: Math.round(p.y) });

/**
 * The pixels whose centre is inside the closed polygon (even-odd rule). Per pixel row, the
 * centre line y + 0.5 crosses the edges at sorted x values; a centre x + 0.5 counts as
 * inside on [x_left, x_right): a centre on a left edge is in, on a right edge out, so two
 * polygons that share an edge never both claim a pixel.
 */
export function polygonPixels(h: number, w: number, vertices: readonly Point[]): Uint8Array {
  const out = new Uint8Array(h * w);
  const n = vertices.length;
  if (n < 3) return out;
  const xs: number[] = [];
  for (let y = 0; y < h; y++) {
    const cy = y + 0.5;
    xs.length = 0;
    for (let i = 0; i < n; i++) {
      const a = vertices[i]!;
      const b = vertices[(i + 1) % n]!;
      // half-open in y: a vertex on the centre line is counted once
      if ((a.y <= cy && cy < b.y) || (b.y <= cy && cy < a.y)) xs.push(a.x + ((cy - a.y) / (b.y - a.y)) * (b.x - a.x));
    }
    xs.sort((p, q) => p - q);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const from = Math.max(0, Math.ceil(xs[k]! - 0.5));
      const to = Math.min(w - 1, Math.ceil(xs[k + 1]! - 0.5) - 1);
      for (let x = from; x <= to; x++) out[y * w + x] = 1;
    }
  }
  return out;
}

/** Labels the polygon's pixels `value` (0 clears them). */
export function paintPolygon(mask: Mask, vertices: readonly Point[], value: MapLabel): void {
  const px = polygonPixels(mask.h, mask.w, vertices);
  for (let i = 0; i < px.length; i++) if (px[i]) mask.data[i] = value;
}

/**
 * Fills holes of the "look here" region: every unlabelled pixel that cannot reach the
 * map's border through pixels that are not "look here" (4-connected) becomes "look here".
 * "Do not look here" pixels are left as they are (a negative label inside the region is
 * meant), and they do not close a hole.
 */
export function fillHoles(mask: Mask): void {
  const { h, w, data } = mask;
  const outside = new Uint8Array(h * w);
  const stack: number[] = [];
  const seed = (i: number) => {
    if (data[i] !== MAP_LOOK && outside[i] === 0) {
      outside[i] = 1;
      stack.push(i);
    }
  };
  for (let x = 0; x < w; x++) { seed(x); seed((h - 1) * w + x); }
  for (let y = 0; y < h; y++) { seed(y * w); seed(y * w + w - 1); }
  while (stack.length) {
    const i = stack.pop()!;
    const x = i % w;
    const y = (i - x) / w;
    if (x > 0) seed(i - 1);
    if (x < w - 1) seed(i + 1);
    if (y > 0) seed(i - w);
    if (y < h - 1) seed(i + w);
  }
  for (let i = 0; i < data.length; i++) if (data[i] === MAP_NONE && outside[i] === 0) data[i] = MAP_LOOK;
}

/** Pixels labelled `label` (for "empty map" checks and display). */
export function countLabel(mask: Mask, label: MapLabel): number {
  let n = 0;
  for (let i = 0; i < mask.data.length; i++) n += mask.data[i] === label ? 1 : 0;
  return n;
}

/** The 0/1 plane of one label in a mask's pixels (IoU and outlines take the "look here" plane). */
export function labelPlane(data: Uint8Array, label: MapLabel): Uint8Array {
  return data.map((v) => (v === label ? 1 : 0));
}

/**
 * The map as the trainer reads it from JSON (1 -> 255 in `data`, -1 -> 255 in `negative`,
 * which exists only when some pixel is "do not look here"): json_stream.ts's `readMap` of
 * the rows `mapRows` writes.
 */
export function toAttentionMap(mask: Mask): HumanMap {
  const out: HumanMap = { h: mask.h, w: mask.w, data: mask.data.map((v) => (v === MAP_LOOK ? 255 : 0)) };
  if (mask.data.includes(MAP_AVOID)) out.negative = mask.data.map((v) => (v === MAP_AVOID ? 255 : 0));
  return out;
}

/**
 * A trainer's human map as labels: "look here" where its positive value is above 0, else
 * "do not look here" where its negative value is (a JSON value is one or the other, so
 * nothing is dropped for maps read from GRADIA's files).
 */
export function fromAttentionMap(map: HumanMap): Mask {
  const data = new Uint8Array(map.h * map.w);
  for (let i = 0; i < data.length; i++) data[i] = map.data[i]! > 0 ? MAP_LOOK : map.negative && map.negative[i]! > 0 ? MAP_AVOID : MAP_NONE;
  return { h: map.h, w: map.w, data };
}

/** JSON rows of a map as the original writes them: 1 look here, -1 do not look here, else 0. */
export function mapRows(mask: Mask): number[][] {
  const rows: number[][] = [];
  for (let y = 0; y < mask.h; y++) rows.push(Array.from(mask.data.subarray(y * mask.w, (y + 1) * mask.w), (v) => (v === MAP_LOOK ? 1 : v === MAP_AVOID ? -1 : 0)));
  return rows;
}

/* ---- LabelMap (api.ts) <-> Mask: base64 of the h*w bytes, in both node and the browser ---- */

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export function bytesToBase64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!;
    const b = i + 1 < bytes.length ? bytes[i + 1]! : 0;
    const c = i + 2 < bytes.length ? bytes[i + 2]! : 0;
    const n = (a << 16) | (b << 8) | c;
    out += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]!;
    out += i + 1 < bytes.length ? B64[(n >> 6) & 63]! : '=';
    out += i + 2 < bytes.length ? B64[n & 63]! : '=';
  }
  return out;
}

/** Decodes base64; null when the text is not canonical base64. */
export function base64ToBytes(text: string): Uint8Array | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const n = (B64.indexOf(text[i]!) << 18) | (B64.indexOf(text[i + 1]!) << 12) | ((text[i + 2] === '=' ? 0 : B64.indexOf(text[i + 2]!)) << 6) | (text[i + 3] === '=' ? 0 : B64.indexOf(text[i + 3]!));
    if (o < out.length) out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

export function maskToLabelMap(mask: Mask): { h: number; w: number; bits: string } {
  return { h: mask.h, w: mask.w, bits: bytesToBase64(mask.data) };
}

/** A LabelMap as a Mask; null when its bits are not h*w bytes of 0, 1 or 2. */
export function labelMapToMask(m: { h: number; w: number; bits: string }): Mask | null {
  if (!Number.isInteger(m.h) || !Number.isInteger(m.w) || m.h < 1 || m.w < 1) return null;
  const data = base64ToBytes(m.bits);
  if (!data || data.length !== m.h * m.w) return null;
  for (let i = 0; i < data.length; i++) if (data[i]! > MAP_AVOID) return null;
  return { h: m.h, w: m.w, data };
}
