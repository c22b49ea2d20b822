// The files `evaluate` writes, as the original does and a little more: IOU.json,
// explanation.json (RES's precision / recall / F1 per image), misclassified.json, attention/<image>.png (Grad-CAM overlay), attention/compare/<image>.png
// (model | human side by side), summary_grid.png and summary.json.
import path from 'node:path';
import sharp from 'sharp';
import { resizeBilinear } from '../data/iou.js';
import type { EvalSample } from '../data/types.js';
import { atomicWrite } from '../model/safetensors.js';
import { ensureWritableDir } from '../util/fs_errors.js';
import type { EvalSampleResult } from '../coordinator/cluster.js';
import type { EvaluationSummary } from '../coordinator/evaluation.js';
import { camOverlay, tileGrid } from './overlay.js';

/** Pictures are drawn at the original's 224 px whatever the model's input size. */
export const PICTURE_SIZE = 224;

export interface ReportPaths {
  outDir: string;
  iouJson: string;
  explanationJson: string;
  misclassifiedJson: string;
  summaryJson: string;
  attentionDir: string;
  compareDir: string;
  summaryGrid: string;
}

export function reportPaths(outDir: string): ReportPaths {
  return {
    outDir,
    iouJson: path.join(outDir, 'IOU.json'),
    explanationJson: path.join(outDir, 'explanation.json'),
    misclassifiedJson: path.join(outDir, 'misclassified.json'),
    summaryJson: path.join(outDir, 'summary.json'),
    attentionDir: path.join(outDir, 'attention'),
    compareDir: path.join(outDir, 'attention', 'compare'),
    summaryGrid: path.join(outDir, 'summary_grid.png'),
  };
}

/** The cam as the original draws it: ReLU, bilinear to S x S, min-max to [0, 1]. */
export function camPicture(cam: Float32Array, grid: number, size: number): Float32Array {
  const relu = cam.map((v) => (v > 0 ? v : 0));
  const up = resizeBilinear(relu, grid, grid, size, size);
  let min = Infinity;
  let max = -Infinity;
  for (const v of up) { if (v < min) min = v; if (v > max) max = v; }
  const range = max - min;
  return up.map((v) => (range > 0 ? (v - min) / range : 0));
}

/** The image as `evaluate` draws it: alpha dropped, sRGB, bilinear to size x size, raw RGB bytes. */
export async function decodeRgb(file: string, size: number): Promise<Uint8Array> {
  const { data } = await sharp(file).removeAlpha().toColourspace('srgb').resize(size, size, { fit: 'fill', kernel: 'linear' }).raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** One plane of a human map (h x w, > 0 where marked), binarised and bilinear to S x S. */
function humanPicture(plane: Uint8Array, h: number, w: number, size: number): Float32Array {
  const f = Float32Array.from(plane, (v) => (v > 0 ? 1 : 0));
  return resizeBilinear(f, h, w, size, size);
}

/** The colour of the "do not look here" stripes. */
const STRIPE_RGB = [255, 40, 40] as const;

/** The human overlay with its "do not look here" labels hatched: red diagonal stripes over the dimmed image. */
export function humanOverlay(rgb: Uint8Array, map: NonNullable<EvalSample['humanMap']>, size: number): Uint8Array {
  const out = camOverlay(rgb, humanPicture(map.data, map.h, map.w, size), size, size);
  if (!map.negative) return out;
  const neg = humanPicture(map.negative, map.h, map.w, size);
  for (let p = 0; p < size * size; p++) {
    if (neg[p]! < 0.5) continue;
    const stripe = (((p % size) + Math.floor(p / size)) >> 2) % 2 === 0;
    for (let c = 0; c < 3; c++) out[p * 3 + c] = stripe ? STRIPE_RGB[c]! : Math.round(0.35 * rgb[p * 3 + c]!);
  }
  return out;
}

const pngName = (fileName: string) => `${path.parse(fileName).name}.png`;

/** Raw RGB bytes (w x h x 3) as a PNG. */
export function pngOf(rgb: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width, height, channels: 3 } }).png().toBuffer();
}

async function writePng(file: string, rgb: Uint8Array, width: number, height: number): Promise<void> {
  atomicWrite(file, await pngOf(rgb, width, height));
}

function sideBySide(a: Uint8Array, b: Uint8Array, size: number): Uint8Array {
  return tileGrid([a, b], size, size, 2, 4, 128).data;
}

export async function writeEvaluationReport(opts: {
  outDir: string;
  samples: EvalSample[];
  results: EvalSampleResult[];
  summary: EvaluationSummary;
  grid: number;
  gridSamples: number;
  extra?: Record<string, unknown>;
}): Promise<ReportPaths> {
  const p = reportPaths(opts.outDir);
  ensureWritableDir(p.compareDir, 'output folder');
  const S = PICTURE_SIZE;
  const gridTiles: Uint8Array[] = [];
  // The summary grid shows an even spread of the images that have a human map.
  const withMaps = opts.samples.map((s, i) => (s.humanMap ? i : -1)).filter((i) => i >= 0);
  const pool = withMaps.length ? withMaps : opts.samples.map((_, i) => i);
  const stride = Math.max(1, Math.floor(pool.length / Math.max(1, opts.gridSamples)));
  const inGrid = new Set(pool.filter((_, k) => k % stride === 0).slice(0, opts.gridSamples));
  for (let i = 0; i < opts.samples.length; i++) {
    const s = opts.samples[i]!;
    const rgb = await decodeRgb(s.path, S);
    const model = camOverlay(rgb, camPicture(opts.results[i]!.cam, opts.grid, S), S, S);
    await writePng(path.join(p.attentionDir, pngName(s.fileName)), model, S, S);
    if (s.humanMap) {
      const pair = sideBySide(model, humanOverlay(rgb, s.humanMap, S), S);
      await writePng(path.join(p.compareDir, pngName(s.fileName)), pair, 2 * S + 4, S);
      if (inGrid.has(i)) gridTiles.push(pair);
    } else if (inGrid.has(i)) {
      gridTiles.push(sideBySide(model, rgb, S));
    }
  }
  if (gridTiles.length) {
    const g = tileGrid(gridTiles, S, 2 * S + 4, 4, 12, 255);
    await writePng(p.summaryGrid, g.data, g.width, g.height);
  }
  atomicWrite(p.iouJson, Buffer.from(`${JSON.stringify(opts.summary.ious, null, 1)}\n`));
  atomicWrite(p.explanationJson, Buffer.from(`${JSON.stringify(opts.summary.explanations, null, 1)}\n`));
  atomicWrite(p.misclassifiedJson, Buffer.from(`${JSON.stringify(opts.summary.misclassified, null, 1)}\n`));
  const { ious: _i, explanations: _e, misclassified: _m, ...rest } = opts.summary;
  atomicWrite(p.summaryJson, Buffer.from(`${JSON.stringify({ ...rest, ...opts.extra }, null, 2)}\n`));
  return p;
}
