// The replica's view of the data layer's image pipeline (src/data/pipeline.ts: sharp in a
// piscina pool, decoded images cached per worker): load(paths, flips) -> NHWC
// Float32Array, ImageNet-normalised, size x size.
import { ImagePipeline } from '../data/pipeline.js';

export interface ImageLoader {
  load(paths: string[], flips: boolean[]): Promise<Float32Array>;
  /** Decode tasks waiting for a pool thread (for the data-loading queue metric). */
  readonly queueDepth: number;
  close(): Promise<void>;
}

export async function openImageLoader(opts: { size: number; threads: number; cacheBytes?: number }): Promise<ImageLoader> {
  // Each worker keeps its own pool; at least one thread (0 would mean "all cores" there,
  // and every worker asking for all cores oversubscribes the machine).
  return ImagePipeline.create({ size: opts.size, threads: Math.max(1, opts.threads), cacheBytes: opts.cacheBytes });
}
