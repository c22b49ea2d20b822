// 2-D convolution (NHWC, filter [kh, kw, in, out], symmetric zero padding) whose gradient
// is computed with forward convolutions only. WASM has no Conv2DBackpropFilter kernel
// and its Conv2DBackpropInput is a slow scalar loop; forward convolutions are fast.
//   dW: a convolution of the input with batch and channel axes swapped (the input's
//       channels become the batch, the batch becomes the channels) by the output
//       gradient used as a filter dilated by the stride.
//   dX: a full convolution of the zero-upsampled output gradient with the spatially
//       flipped, in/out-transposed filter.
import { tf } from '../backend/tf.js';
import { nativeConvGradient } from '../backend/fused/index.js';

type T4 = tf.Tensor4D;
type Pad4 = [[number, number], [number, number], [number, number], [number, number]];

function pad4(top: number, bottom: number, left: number, right: number): Pad4 {
  return [[0, 0], [top, bottom], [left, right], [0, 0]];
}

/** Plain tfjs conv with symmetric padding `pad` (torch semantics). */
export function convForward(x: T4, w: T4, stride: number, pad: number): T4 {
  return tf.conv2d(x, w, stride, pad === 0 ? 'valid' : pad4(pad, pad, pad, pad));
}

/** Crops (negative padding) or pads rows/cols at the end so the explicit padding is >= 0. */
function cropEnd(x: T4, cropH: number, cropW: number): T4 {
  if (cropH <= 0 && cropW <= 0) return x;
  const [n, h, w, c] = x.shape;
  return tf.slice(x, [0, 0, 0, 0], [n, h - Math.max(cropH, 0), w - Math.max(cropW, 0), c]);
}

/**
 * Filter gradient for an already padded input (valid convolution), one slab of rows.
 * 1x1 filters: X^T [Ci, N*Ho*Wo] times dY [N*Ho*Wo, Co] (plain matMul, the fast path on
 * WASM). Larger filters: a convolution of the input with batch and channel axes swapped
 * by the output gradient dilated by the stride.
 */
function filterGradValid(xp: T4, dy: T4, kh: number, kw: number, stride: number): T4 {
  const [n, ho, wo, co] = dy.shape;
  const ci = xp.shape[3];
  if (kh === 1 && kw === 1) {
    const m = n * ho * wo;
    const xs = stride === 1 && xp.shape[1] === ho && xp.shape[2] === wo
      ? xp
      : tf.stridedSlice(xp, [0, 0, 0, 0], [n, (ho - 1) * stride + 1, (wo - 1) * stride + 1, ci], [1, stride, stride, 1]);
    const xT = tf.transpose(tf.reshape(xs, [m, ci])) as tf.Tensor2D; // [Ci, M]
    return tf.reshape(tf.matMul(xT, tf.reshape(dy, [m, co]) as tf.Tensor2D), [1, 1, ci, co]) as T4;
  }
  // crop to exactly the rows/cols the valid convolution reads
  const hNeed = (ho - 1) * stride + kh;
  const wNeed = (wo - 1) * stride + kw;
  const xs = xp.shape[1] === hNeed && xp.shape[2] === wNeed ? xp : tf.slice(xp, [0, 0, 0, 0], [n, hNeed, wNeed, ci]);
  const xT = tf.transpose(xs, [3, 1, 2, 0]) as T4; // [Ci, H, W, N]
  const dyT = tf.transpose(dy, [1, 2, 0, 3]) as T4; // [Ho, Wo, N, Co]
  const r = tf.conv2d(xT, dyT, 1, 'valid', 'NHWC', stride) as T4; // [Ci, kh, kw, Co]
  return tf.transpose(r, [1, 2, 0, 3]) as T4;
}

/** Products per slab of the filter gradient (see convFilterGrad). A float32 sum's rounding
 *  error grows with its number of terms, so slabs stay small; at 2^14 a 224 px, batch 16 ResNet
 *  layer still needs at most 13 slabs (the stem: 112 output rows, 9 per slab of 16 x 112 columns). */
const FILTER_GRAD_BLOCK = 16384;
/**
 * Filter gradient of convForward(x, w, stride, pad) for output gradient dy. It sums over
 * N * Ho * Wo products; one float32 convolution over all of them loses precision (the sum
 * cancels heavily after batch norm), so it is split into slabs of output rows with about
 * FILTER_GRAD_BLOCK products each, summed afterwards.
 */
export function convFilterGrad(x: T4, dy: T4, kh: number, kw: number, stride: number, pad: number): T4 {
  return tf.tidy(() => {
    const [n, h, wd] = x.shape;
    const [, ho, wo] = dy.shape;
    const padB = Math.max(0, kh + (ho - 1) * stride - h - pad);
    const padR = Math.max(0, kw + (wo - 1) * stride - wd - pad);
    const xp = pad === 0 && padB === 0 && padR === 0 ? x : (tf.pad(x, [[0, 0], [pad, padB], [pad, padR], [0, 0]]) as T4);
    const rows = Math.max(1, Math.floor(FILTER_GRAD_BLOCK / (n * wo)));
    if (rows >= ho) return filterGradValid(xp, dy, kh, kw, stride);
    const parts: T4[] = [];
    for (let r0 = 0; r0 < ho; r0 += rows) {
      const r1 = Math.min(ho, r0 + rows);
      const slabX = tf.slice(xp, [0, r0 * stride, 0, 0], [n, (r1 - 1 - r0) * stride + kh, xp.shape[2], xp.shape[3]]) as T4;
      const slabDy = tf.slice(dy, [0, r0, 0, 0], [n, r1 - r0, wo, dy.shape[3]]) as T4;
      parts.push(filterGradValid(slabX, slabDy, kh, kw, stride));
    }
    // pairwise summation of the partial gradients
    let level = parts;
    while (level.length > 1) {
      const next: T4[] = [];
      for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? (tf.add(level[i], level[i + 1]) as T4) : level[i]);
      level = next;
    }
    return level[0];
  });
}

/**
 * The spatially flipped filter with in/out swapped, [kh, kw, Co, Ci], as a JS loop (WASM's
 * Reverse kernel is slow). Only the forward-convolution gradient uses it, on host-memory
 * backends; a pure copy, so the result is the same on every backend.
 */
export function flipFilter(w: T4): T4 {
  const [kh, kw, ci, co] = w.shape;
  if (kh === 1 && kw === 1) return tf.transpose(w, [0, 1, 3, 2]) as T4;
  const src = w.dataSync() as Float32Array;
  const out = new Float32Array(src.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      const sb = ((kh - 1 - y) * kw + (kw - 1 - x)) * ci * co;
      const db = (y * kw + x) * co * ci;
      for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[db + o * ci + i] = src[sb + i * co + o];
    }
  }
  return tf.tensor4d(out, [kh, kw, co, ci]);
}

/** Input gradient of convForward(x, w, stride, pad) for output gradient dy. */
export function convInputGrad(xShape: number[], w: T4, dy: T4, stride: number, pad: number): T4 {
  return tf.tidy(() => {
    const [n, h, wd] = xShape;
    const [kh, kw, ci, co] = w.shape;
    let [, ho, wo] = dy.shape;
    let up: T4 = dy;
    if (stride > 1) {
      // insert stride-1 zeros between output positions
      const z = tf.reshape(dy, [n, ho, 1, wo, 1, co]);
      const p = tf.pad(z, [[0, 0], [0, 0], [0, stride - 1], [0, 0], [0, stride - 1], [0, 0]]);
      const full = tf.reshape(p, [n, ho * stride, wo * stride, co]) as T4;
      up = tf.slice(full, [0, 0, 0, 0], [n, (ho - 1) * stride + 1, (wo - 1) * stride + 1, co]);
      ho = (ho - 1) * stride + 1;
      wo = (wo - 1) * stride + 1;
    }
    const padT = kh - 1 - pad;
    const padL = kw - 1 - pad;
    let padB = h + kh - 1 - ho - padT;
    let padR = wd + kw - 1 - wo - padL;
    up = cropEnd(up, -padB, -padR);
    padB = Math.max(padB, 0);
    padR = Math.max(padR, 0);
    const wf = flipFilter(w); // [kh, kw, Co, Ci]
    void ci;
    const allZero = padT === 0 && padB === 0 && padL === 0 && padR === 0;
    return tf.conv2d(up, wf, 1, allZero ? 'valid' : pad4(padT, padB, padL, padR)) as T4;
  });
}

const cache = new Map<string, (x: T4, w: T4) => T4>();
let useNative = false;

/**
 * 'forward' (default): the forward-convolution gradient below. 'native': tfjs's own conv
 * gradient (Conv2DBackpropInput / Conv2DBackpropFilter; not on WASM). For tests.
 */
export function setConvGradMode(mode: 'forward' | 'native'): void {
  useNative = mode === 'native';
}

/**
 * Convolution for every conv of the ResNet. Where the backend's own gradient kernels are native
 * (nativeConvGradient: onednn, tensorflow) tfjs's gradient runs them; elsewhere (WASM has no
 * Conv2DBackpropFilter and a scalar Conv2DBackpropInput; cpu's are JS) the gradient is the
 * forward-conv one above (tf.customGrad).
 */
export function conv2d(x: T4, w: T4, stride: number, pad: number): T4 {
  if (useNative || nativeConvGradient()) return convForward(x, w, stride, pad);
  const key = `${stride}/${pad}`;
  let f = cache.get(key);
  if (!f) {
    const fn = (xi: tf.Tensor, wi: tf.Tensor, save: tf.GradSaveFunc) => {
      const xx = xi as T4;
      const ww = wi as T4;
      save([xx, ww]);
      return {
        value: convForward(xx, ww, stride, pad),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const [sx, sw] = saved as [T4, T4];
          const g = dy as T4;
          return [
            convInputGrad(sx.shape, sw, g, stride, pad),
            convFilterGrad(sx, g, sw.shape[0], sw.shape[1], stride, pad),
          ];
        },
      };
    };
    f = tf.customGrad(fn as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: T4, w: T4) => T4;
    cache.set(key, f);
  }
  return f(x, w);
}

/** Identity whose gradient is zero (torch's detach / tf.stop_gradient). */
const stopFn = (x: tf.Tensor, _save: tf.GradSaveFunc) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.zerosLike(dy as tf.Tensor),
});
export const stopGradient = tf.customGrad(stopFn as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as <R extends tf.Tensor>(x: R) => R;
