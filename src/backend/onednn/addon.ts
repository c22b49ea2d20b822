// Loads the optional oneDNN N-API addon (native/, built by scripts/build-native.mjs at install).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../util/paths.js';
import type { OpCodes } from './op_codes.js';

/** The addon's functions. All buffers are caller-owned Float32Arrays; results are written in place. */
export interface OnednnAddon {
  /** params: N, IH, IW, IC, KH, KW, OC, OH, OW, SH, SW, DH, DW, PT, PL, PB, PR (tfjs dilation: 1 = none).
   *  act: an opCodes.activation code (leakyrelu uses alpha). Filter is HWIO. */
  conv2d(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, params: number[], act: number, alpha: number): void;
  conv2dBackpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, params: number[]): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, params: number[]): void;
  /** params: Ba, Bb, M, K, N, transposeA, transposeB */
  matmul(a: Float32Array, b: Float32Array, out: Float32Array, params: number[]): void;
  /** params: N, IH, IW, C, KH, KW, OH, OW, SH, SW, PT, PL, PB, PR; kind: an opCodes.pool code (avg excludes padding) */
  pool(x: Float32Array, y: Float32Array, params: number[], kind: number): void;
  poolBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, params: number[], kind: number): void;
  /** op: an opCodes.binary code; numpy broadcasting */
  binary(op: number, a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], out: Float32Array, outShape: number[]): void;
  /** op: an opCodes.reduce code, over the middle axis of [outer, r, inner] */
  reduce(op: number, x: Float32Array, outer: number, r: number, inner: number, out: Float32Array): void;
  /** op: an opCodes.unary code (step uses alpha for x <= 0) */
  unary(op: number, x: Float32Array, out: Float32Array, n: number, alpha: number): void;
  addN(xs: Float32Array[], out: Float32Array, n: number): void;
  /** dst[dstOff + i.dstStrides] = src[srcOff + i.srcStrides] over every index i of shape (element strides) */
  stridedCopy(src: Float32Array, srcOff: number, srcStrides: number[], dst: Float32Array, dstOff: number, dstStrides: number[], shape: number[]): void;
  fill(dst: Float32Array, value: number, n: number): void;
  /** Batch-norm statistics over the rows of a [rows, C] view: mean and biased variance. */
  bnStats(x: Float32Array, rows: number, C: number, mean: Float32Array, variance: Float32Array): void;
  bnApply(x: Float32Array, rows: number, C: number, mean: Float32Array, variance: Float32Array, gamma: Float32Array,
    beta: Float32Array, eps: number, y: Float32Array, relu: boolean): void;
  bnBackward(dy: Float32Array, x: Float32Array, rows: number, C: number, mean: Float32Array, variance: Float32Array,
    gamma: Float32Array, eps: number, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, reluOut: Float32Array | null): void;
  /** dx = dy where y > 0, else 0 */
  reluGrad(dy: Float32Array, y: Float32Array, dx: Float32Array, n: number): void;
  /** y = max(a + b, 0) */
  addRelu(a: Float32Array, b: Float32Array, y: Float32Array, n: number): void;
  /** One Adam step in place, every operation rounded to float32. */
  adamStep(params: Float32Array, grads: Float32Array, m: Float32Array, v: Float32Array, n: number, stepSize: number,
    bc2Sqrt: number, b1: number, b2: number, a1: number, a2: number, eps: number): void;
  setThreads(n: number): void;
  getThreads(): number;
  version(): string;
  clearCache(): void;
  /** The op codes by family and name (native/src/op_codes.h); resolve with resolveOpCodes. */
  opCodes: { [F in keyof OpCodes]: Record<string, number> };
}

export const INSTALL_HINT =
  'install libdnnl-dev (apt-get install libdnnl-dev) and rebuild the addon with `node scripts/build-native.mjs` (or `npm ci`)';

/** Path of the addon: $GRADIA_ONEDNN_ADDON, else native/build/Release/gradia_onednn.node. */
export function addonPath(): string {
  return process.env.GRADIA_ONEDNN_ADDON || path.join(repoRoot, 'native', 'build', 'Release', 'gradia_onednn.node');
}

let cached: { addon: OnednnAddon } | { error: string } | undefined;

/** Loads the addon once; returns it or a one-line reason it is unavailable. */
export function loadAddon(): { addon: OnednnAddon } | { error: string } {
  if (cached) return cached;
  const file = addonPath();
  if (!fs.existsSync(file)) {
    cached = { error: `the oneDNN addon is not built (${file} is missing): ${INSTALL_HINT}` };
    return cached;
  }
  try {
    const req = createRequire(import.meta.url);
    cached = { addon: req(file) as OnednnAddon };
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    cached = { error: `the oneDNN addon failed to load (${msg}): ${INSTALL_HINT}` };
  }
  return cached;
}
