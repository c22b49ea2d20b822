/**
 * The review page's pictures, addressed by image index only: the image decoded exactly as
 * the training pipeline decodes it (sharp, no EXIF rotation, sRGB, alpha dropped, PIL
 * bilinear resize: the pipeline worker's own decode task), and the Grad-CAM overlay drawn
 * from that same decode by `evaluate`'s code (camPicture + camOverlay), both at evaluate's
 * 224 px so the raw image and the overlay line up pixel for pixel. PNGs are kept in a
 * small cache, and the last few decodes, so an image and its overlay share one decode.
 */
import decodeTask, { type DecodeResult } from '../data/pipeline_worker.js';
import type { EvalSample } from '../data/types.js';
import { camOverlay } from '../report/overlay.js';
import { camPicture, PICTURE_SIZE, pngOf } from '../report/eval_report.js';
import { GradiaInputError } from '../util/errors.js';
import type { ModelOutputs } from './model_outputs.js';

export type PictureKind = 'image' | 'overlay';

const CACHE_ENTRIES = 256;
/** Decodes kept, so an index's image and overlay share one decode. */
const RGB_ENTRIES = 8;

export class ReviewImages {
  private readonly cache = new Map<string, Promise<Buffer>>();
  private readonly rgbCache = new Map<number, Promise<Uint8Array>>();

  constructor(private readonly samples: EvalSample[], private readonly outputs: ModelOutputs, readonly size = PICTURE_SIZE) {}

  /** The decoded S x S x 3 image, as the training pipeline makes it. */
  rgb(index: number): Promise<Uint8Array> {
    let p = this.rgbCache.get(index);
    if (p) {
      this.rgbCache.delete(index);
      this.rgbCache.set(index, p);
      return p;
    }
    const decoding = this.decode(index);
    decoding.catch(() => { if (this.rgbCache.get(index) === decoding) this.rgbCache.delete(index); });
    this.rgbCache.set(index, decoding);
    while (this.rgbCache.size > RGB_ENTRIES) this.rgbCache.delete(this.rgbCache.keys().next().value!);
    return decoding;
  }

  private async decode(index: number): Promise<Uint8Array> {
    const s = this.samples[index]!;
    const r = (await decodeTask({ kind: 'decode', path: s.path, size: this.size })) as DecodeResult;
    if (!r.ok) throw new GradiaInputError(s.path, r.problem);
    return r.data;
  }

  png(index: number, kind: PictureKind): Promise<Buffer> {
    const key = `${kind}:${index}`;
    let p = this.cache.get(key);
    if (p) {
      this.cache.delete(key);
      this.cache.set(key, p);
      return p;
    }
    p = this.draw(index, kind);
    p.catch(() => this.cache.delete(key));
    this.cache.set(key, p);
    while (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    return p;
  }

  private async draw(index: number, kind: PictureKind): Promise<Buffer> {
    const S = this.size;
    const rgb = await this.rgb(index);
    let pixels = rgb;
    if (kind === 'overlay') {
      const cam = Float32Array.from(this.outputs.items[index]!.cam);
      pixels = camOverlay(rgb, camPicture(cam, this.outputs.grid, S), S, S);
    }
    return pngOf(pixels, S, S);
  }
}
