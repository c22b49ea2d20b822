/**
 * The image pipeline: sharp decoding and augmentation (flip + ImageNet normalisation) in a
 * piscina pool of worker threads, with a per-pipeline cache of the resized uint8 images so
 * that each file is decoded once per run while the data set fits in the cache's byte cap
 * (least recently used images are dropped beyond it, and decoded again when needed).
 */
import os from 'node:os';
import { Piscina } from 'piscina';
import { GradiaInputError } from '../util/errors.js';
import { compiledEntry } from '../util/paths.js';
import type { DecodeResult } from './pipeline_worker.js';

export interface PipelineOptions {
  /** pool threads (-j/--workers); 0 or less -> number of CPUs */
  threads: number;
  /** output size S: images become S x S */
  size: number;
  /** cap on the decoded images kept, in bytes (default DEFAULT_DECODE_CACHE_MB); 0: no cache */
  cacheBytes?: number;
}

/** Default decode cache per pipeline: ~14k images at 224 px (150 KB each). */
export const DEFAULT_DECODE_CACHE_MB = 2048;

export class ImagePipeline {
  /** decoded images in least- to most-recently-used order (a Map keeps insertion order) */
  private readonly cache = new Map<string, Uint8Array>();
  private readonly inflight = new Map<string, Promise<Uint8Array>>();
  private cachedBytes = 0;
  private evictions = 0;
  private decodes = 0;
  private closed = false;

  private constructor(private readonly pool: Piscina, readonly threads: number, readonly size: number, readonly cacheCapBytes: number) {}

  static async create(opts: PipelineOptions): Promise<ImagePipeline> {
    if (!Number.isInteger(opts.size) || opts.size < 1) throw new RangeError(`ImagePipeline: bad size ${opts.size}`);
    const threads = opts.threads > 0 ? Math.floor(opts.threads) : Math.max(1, os.cpus().length);
    const cap = opts.cacheBytes ?? DEFAULT_DECODE_CACHE_MB * 2 ** 20;
    if (!(cap >= 0)) throw new RangeError(`ImagePipeline: bad cache cap ${cap}`);
    const pool = new Piscina({ filename: compiledEntry('data/pipeline_worker'), minThreads: threads, maxThreads: threads, idleTimeout: 60_000 });
    return new ImagePipeline(pool, threads, opts.size, cap);
  }

  /** Tasks waiting for a pool thread (for metrics). */
  get queueDepth(): number {
    return this.pool.queueSize;
  }

  /** Decodes so far (a file counts again when it was dropped from the cache and needed again). */
  get decodedFiles(): number {
    return this.decodes;
  }

  /** Cached images, their bytes, the cap and how many images the cap has dropped. */
  get cacheStats(): { images: number; bytes: number; capBytes: number; evictions: number } {
    return { images: this.cache.size, bytes: this.cachedBytes, capBytes: this.cacheCapBytes, evictions: this.evictions };
  }

  private remember(path: string, img: Uint8Array): void {
    if (img.byteLength > this.cacheCapBytes) return;
    this.cache.set(path, img);
    this.cachedBytes += img.byteLength;
    for (const [oldest, old] of this.cache) {
      if (this.cachedBytes <= this.cacheCapBytes) break;
      this.cache.delete(oldest);
      this.cachedBytes -= old.byteLength;
      this.evictions++;
    }
  }

  /** The resized S x S x 3 uint8 image of a file (decoded once, then cached within the cap). */
  decoded(path: string): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new Error('ImagePipeline is closed'));
    const hit = this.cache.get(path);
    if (hit) {
      // most recently used goes last
      this.cache.delete(path);
      this.cache.set(path, hit);
      return Promise.resolve(hit);
    }
    let p = this.inflight.get(path);
    if (!p) {
      p = (this.pool.run({ kind: 'decode', path, size: this.size }) as Promise<DecodeResult>).then((r) => {
        this.inflight.delete(path);
        if (!r.ok) throw new GradiaInputError(path, r.problem);
        this.decodes++;
        if (!this.closed) this.remember(path, r.data);
        return r.data;
      }, (e: unknown) => {
        this.inflight.delete(path);
        throw e;
      });
      this.inflight.set(path, p);
    }
    return p;
  }

  /** Decode every file ahead of training (surfaces bad images early; beyond the cap the oldest are dropped again). */
  async warm(paths: string[]): Promise<void> {
    await Promise.all(paths.map((p) => this.decoded(p)));
  }

  /**
   * A batch: NHWC float32 [n, S, S, 3], ImageNet-normalised, image i mirrored when flips[i].
   * An unreadable or corrupt file rejects with GradiaInputError naming it.
   */
  async load(paths: string[], flips: boolean[]): Promise<Float32Array> {
    if (paths.length !== flips.length) throw new RangeError(`load: ${paths.length} paths but ${flips.length} flips`);
    const imgs = await Promise.all(paths.map((p) => this.decoded(p)));
    const n = imgs.length;
    const per = this.size * this.size * 3;
    if (n === 0) return new Float32Array(0);
    const parts = Math.min(this.threads, n);
    const bounds: number[] = [];
    for (let i = 0; i <= parts; i++) bounds.push(Math.round((i * n) / parts));
    const chunks = await Promise.all(
      bounds.slice(0, -1).map((b, i) =>
        this.pool.run({ kind: 'augment', images: imgs.slice(b, bounds[i + 1]), flips: flips.slice(b, bounds[i + 1]), size: this.size }) as Promise<Float32Array>,
      ),
    );
    if (chunks.length === 1) return chunks[0];
    const out = new Float32Array(n * per);
    chunks.forEach((c, i) => out.set(c, bounds[i] * per));
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cache.clear();
    this.cachedBytes = 0;
    await this.pool.destroy();
  }
}
