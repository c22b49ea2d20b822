/**
 * Image resize as torchvision's Resize((s, s)) does it on a PIL image: Pillow's BILINEAR
 * resample (a triangle filter whose support grows with the downscale factor, i.e.
 * antialiased), horizontal pass then vertical pass, 8-bit fixed-point coefficients
 * (22 fraction bits) with rounding and clipping after each pass — the same arithmetic as
 * Pillow's ImagingResample, so results match PIL to the byte.
 */

const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;

interface Coeffs {
  /** first source index of each output pixel */
  min: Int32Array;
  /** number of source pixels of each output pixel */
  n: Int32Array;
  /** fixed-point weights, ksize per output pixel */
  k: Float64Array;
  ksize: number;
}

function bilinear(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

function coeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 1.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const min = new Int32Array(outSize);
  const n = new Int32Array(outSize);
  const k = new Float64Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = bilinear((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x] / ww : w[x];
      k[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    min[xx] = xmin;
    n[xx] = xmax;
  }
  return { min, n, k, ksize };
}

function clip8(v: number): number {
  if (v >= ONE * 256) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / ONE);
}

/** Resize an HWC uint8 image with `c` channels from sh x sw to dh x dw (PIL BILINEAR). */
export function resizeBilinearPIL(src: Uint8Array, sh: number, sw: number, c: number, dh: number, dw: number, out?: Uint8Array): Uint8Array {
  const dst = out ?? new Uint8Array(dh * dw * c);
  if (sh === dh && sw === dw) {
    dst.set(src.subarray(0, sh * sw * c));
    return dst;
  }
  // horizontal pass: sh x dw
  let tmp: Uint8Array;
  if (sw !== dw) {
    const cx = coeffs(sw, dw);
    tmp = new Uint8Array(sh * dw * c);
    for (let y = 0; y < sh; y++) {
      const srow = y * sw * c;
      const trow = y * dw * c;
      for (let x = 0; x < dw; x++) {
        const xmin = cx.min[x];
        const nn = cx.n[x];
        const kb = x * cx.ksize;
        for (let ch = 0; ch < c; ch++) {
          let s = HALF;
          for (let i = 0; i < nn; i++) s += src[srow + (xmin + i) * c + ch] * cx.k[kb + i];
          tmp[trow + x * c + ch] = clip8(s);
        }
      }
    }
  } else tmp = src;
  if (sh === dh) {
    dst.set(tmp.subarray(0, dh * dw * c));
    return dst;
  }
  const cy = coeffs(sh, dh);
  const rowLen = dw * c;
  for (let y = 0; y < dh; y++) {
    const ymin = cy.min[y];
    const nn = cy.n[y];
    const kb = y * cy.ksize;
    const drow = y * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let s = HALF;
      for (let j = 0; j < nn; j++) s += tmp[(ymin + j) * rowLen + i] * cy.k[kb + j];
      dst[drow + i] = clip8(s);
    }
  }
  return dst;
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/**
 * ToTensor + Normalize of an HWC RGB uint8 image into `out` at `offset` (NHWC float32),
 * mirrored left-right when `flip`.
 */
export function normaliseInto(img: Uint8Array, h: number, w: number, flip: boolean, out: Float32Array, offset: number): void {
  const m0 = IMAGENET_MEAN[0], m1 = IMAGENET_MEAN[1], m2 = IMAGENET_MEAN[2];
  const s0 = 1 / IMAGENET_STD[0], s1 = 1 / IMAGENET_STD[1], s2 = 1 / IMAGENET_STD[2];
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    let o = offset + row;
    for (let x = 0; x < w; x++) {
      const sx = flip ? w - 1 - x : x;
      const i = row + sx * 3;
      out[o] = (Math.fround(img[i] / 255) - m0) * s0;
      out[o + 1] = (Math.fround(img[i + 1] / 255) - m1) * s1;
      out[o + 2] = (Math.fround(img[i + 2] / 255) - m2) * s2;
      o += 3;
    }
  }
}
