// The backend class: tfjs's MathBackendCPU plus a pool of output buffers. Large fresh allocations
// cost page faults (~17 ms per 50 MB here, three times the cost of writing the data), so buffers
// the native kernels allocated are reused as soon as tfjs releases their tensor, instead of
// waiting for V8's garbage collector.
//
// Safety: a buffer is reused only when no live tensor data refers to its ArrayBuffer (counted
// across write/move/dispose, so zero-copy slices and shared values are covered) and its values
// never left the backend (readSync/read mark a buffer as escaped: dataSync() hands out the very
// array). Buffers allocated elsewhere (user arrays, tfjs's own kernels) are never pooled.
import type { DataId, DataType, BackendValues } from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

export class OnednnBackend extends MathBackendCPU {
  private readonly pool = new Map<number, Float32Array[]>();
  private readonly poolable = new WeakSet<ArrayBuffer>();
  private readonly escaped = new WeakSet<ArrayBuffer>();
  private readonly owners = new Map<ArrayBuffer, number>();
  private pooledBytes = 0;
  /** Per bucket (buffer length): the fewest buffers it held since the last trimPool (never taken). */
  private readonly lowWater = new Map<number, number>();
  readonly maxPoolBytes: number;
  readonly poolStats = { hits: 0, misses: 0, returned: 0 };

  constructor(maxPoolBytes: number) {
    super();
    this.maxPoolBytes = maxPoolBytes;
    // silence the cpu backend's "install tfjs-node" hint: this backend is the native one
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  /** An uninitialised Float32Array of n elements, reused from the pool when one is free. */
  alloc(n: number): Float32Array {
    if (n === 0) return new Float32Array(0);
    const bucket = this.pool.get(n);
    const hit = bucket?.pop();
    if (hit) {
      this.pooledBytes -= n * 4;
      const lw = this.lowWater.get(n);
      if (lw !== undefined && bucket!.length < lw) this.lowWater.set(n, bucket!.length);
      this.poolStats.hits++;
      return hit;
    }
    this.poolStats.misses++;
    const b = Buffer.allocUnsafeSlow(n * 4);
    const a = new Float32Array(b.buffer, b.byteOffset, n);
    if (b.byteOffset === 0 && b.buffer.byteLength === n * 4) this.poolable.add(b.buffer);
    return a;
  }

  /** Drops every pooled buffer (the memory goes back at the next garbage collection). */
  releasePool(): void {
    this.pool.clear();
    this.lowWater.clear();
    this.pooledBytes = 0;
  }

  /** Bytes of free buffers held for reuse. */
  get pooledByteCount(): number {
    return this.pooledBytes;
  }

  /**
   * Drops the pooled buffers that no allocation needed since the previous call (per size, the
   * bucket's low-water mark). Called once per training step or evaluation batch, it keeps what
   * the steady state reuses and lets go of sizes seen once (a last partial batch, an uneven
   * shard, evaluation shapes during training), which otherwise pile up to maxPoolBytes.
   */
  trimPool(): void {
    for (const [n, bucket] of this.pool) {
      const drop = Math.min(this.lowWater.get(n) ?? bucket.length, bucket.length);
      if (drop > 0) {
        bucket.splice(0, drop);
        this.pooledBytes -= drop * n * 4;
      }
      if (bucket.length === 0) {
        this.pool.delete(n);
        this.lowWater.delete(n);
      } else {
        this.lowWater.set(n, bucket.length);
      }
    }
  }

  private track(values: unknown): void {
    const buf = (values as { buffer?: unknown } | null)?.buffer;
    if (buf instanceof ArrayBuffer && this.poolable.has(buf)) this.owners.set(buf, (this.owners.get(buf) ?? 0) + 1);
  }

  private untrack(values: unknown): void {
    const buf = (values as { buffer?: unknown } | null)?.buffer;
    if (!(buf instanceof ArrayBuffer) || !this.poolable.has(buf)) return;
    const c = (this.owners.get(buf) ?? 1) - 1;
    if (c > 0) { this.owners.set(buf, c); return; }
    this.owners.delete(buf);
    if (this.escaped.has(buf)) return;
    const n = buf.byteLength / 4;
    if (this.pooledBytes + buf.byteLength > this.maxPoolBytes) return;
    let bucket = this.pool.get(n);
    if (!bucket) { bucket = []; this.pool.set(n, bucket); this.lowWater.set(n, 0); }
    bucket.push(new Float32Array(buf));
    this.pooledBytes += buf.byteLength;
    this.poolStats.returned++;
  }

  override write(values: BackendValues, shape: number[], dtype: DataType): DataId {
    const id = super.write(values, shape, dtype);
    this.track(values);
    return id;
  }

  override move(dataId: DataId, values: BackendValues, shape: number[], dtype: DataType, refCount: number): void {
    super.move(dataId, values, shape, dtype, refCount);
    this.track(values);
  }

  override readSync(dataId: DataId): BackendValues {
    const v = super.readSync(dataId);
    const buf = (v as { buffer?: unknown }).buffer;
    if (buf instanceof ArrayBuffer) this.escaped.add(buf);
    return v;
  }

  /**
   * A tensor's values for the caller to copy at once and not keep: unlike readSync (dataSync),
   * the buffer is not marked escaped, so it can still return to the pool once the tensor goes.
   */
  peekValues(dataId: DataId): BackendValues {
    return super.readSync(dataId);
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const d = this.data.get(dataId);
    const values = d?.values;
    const released = super.disposeData(dataId, force);
    if (d && !this.data.has(dataId)) this.untrack(values);
    return released;
  }
}
