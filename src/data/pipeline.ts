/**
 * The image pipeline: sharp decoding and augmentation (flip + ImageNet normalisation) in a
 * piscina pool of worker threads, with a per-pipeline cache of the resized uint8 images so
 * that each file is decoded once per run.
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
}

export class ImagePipeline {
  private readonly cache = new Map<string, Uint8Array>();
  private readonly inflight = new Map<string, Promise<Uint8Array>>();
  private decodes = 0;
  private closed = false;

  private constructor(private readonly pool: Piscina, readonly threads: number, readonly size: number) {}

  static async create(opts: PipelineOptions): Promise<ImagePipeline> {
    if (!Number.isInteger(opts.size) || opts.size < 1) throw new RangeError(`ImagePipeline: bad size ${opts.size}`);
    const threads = opts.threads > 0 ? Math.floor(opts.threads) : Math.max(1, os.cpus().length);
    const pool = new Piscina({ filename: compiledEntry('data/pipeline_worker'), minThreads: threads, maxThreads: threads, idleTimeout: 60_000 });
    return new ImagePipeline(pool, threads, opts.size);
  }

  /** Tasks waiting for a pool thread (for metrics). */
  get queueDepth(): number {
    return this.pool.queueSize;
  }

  /** Files decoded so far (each at most once). */
  get decodedFiles(): number {
    return this.decodes;
  }

  /** Cached images and their bytes. */
  get cacheStats(): { images: number; bytes: number } {
    return { images: this.cache.size, bytes: this.cache.size * this.size * this.size * 3 };
  }

  /** The resized S x S x 3 uint8 image of a file (decoded once, then cached). */
  decoded(path: string): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new Error('ImagePipeline is closed'));
    const hit = this.cache.get(path);
    if (hit) return Promise.resolve(hit);
    let p = this.inflight.get(path);
    if (!p) {
      p = (this.pool.run({ kind: 'decode', path, size: this.size }) as Promise<DecodeResult>).then((r) => {
        this.inflight.delete(path);
        if (!r.ok) throw new GradiaInputError(path, r.problem);
        this.decodes++;
        this.cache.set(path, r.data);
        return r.data;
      }, (e: unknown) => {
        this.inflight.delete(path);
        throw e;
      });
      this.inflight.set(path, p);
    }
    return p;
  }

  /** Decode every file into the cache ahead of training (surfaces bad images early). */
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
    await this.pool.destroy();
  }
}
