/**
 * Piscina worker of the image pipeline (loaded from dist/ via compiledEntry). Two tasks:
 * `decode` reads a file with sharp, converts it to 8-bit sRGB and resizes it as
 * torchvision's Resize((s, s)) into a SharedArrayBuffer (the main thread caches it and
 * hands it back without copies); `augment` flips and normalises a chunk of cached images
 * into a Float32Array that is moved (not copied) back.
 */
import sharp from 'sharp';
import { move } from 'piscina';
import { normaliseInto, resizeBilinearPIL } from './resize.js';

sharp.concurrency(1);
sharp.cache(false);

export interface DecodeTask { kind: 'decode'; path: string; size: number }
export interface AugmentTask { kind: 'augment'; images: Uint8Array[]; flips: boolean[]; size: number }
export type DecodeResult = { ok: true; data: Uint8Array; width: number; height: number } | { ok: false; problem: string };

async function decode(t: DecodeTask): Promise<DecodeResult> {
  let data: Buffer;
  let info: { width: number; height: number; channels: number };
  try {
    // failOn 'error': a truncated or corrupt file fails instead of decoding to grey.
    ({ data, info } = await sharp(t.path, { failOn: 'error', limitInputPixels: 1 << 28 })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true }));
  } catch (e) {
    return { ok: false, problem: `unreadable or corrupt image (${(e as Error).message.split('\n')[0]})` };
  }
  const { width, height, channels } = info;
  let rgb: Uint8Array;
  if (channels === 3) rgb = data;
  else {
    // drop alpha (PIL convert('RGB') does not composite), expand grey
    rgb = new Uint8Array(width * height * 3);
    for (let i = 0, j = 0; i < width * height; i++, j += channels) {
      if (channels >= 3) {
        rgb[i * 3] = data[j];
        rgb[i * 3 + 1] = data[j + 1];
        rgb[i * 3 + 2] = data[j + 2];
      } else rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = data[j];
    }
  }
  const out = new Uint8Array(new SharedArrayBuffer(t.size * t.size * 3));
  resizeBilinearPIL(rgb, height, width, 3, t.size, t.size, out);
  return { ok: true, data: out, width, height };
}

function augment(t: AugmentTask): Float32Array {
  const per = t.size * t.size * 3;
  const out = new Float32Array(t.images.length * per);
  for (let i = 0; i < t.images.length; i++) normaliseInto(t.images[i], t.size, t.size, t.flips[i], out, i * per);
  return out;
}

export default async function run(t: DecodeTask | AugmentTask): Promise<unknown> {
  if (t.kind === 'decode') return decode(t);
  return move(augment(t));
}
