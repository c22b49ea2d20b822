// Reading a tensor's values into part of a larger Float32Array (flat gradients), copying or adding.
import type { DataId } from '@tensorflow/tfjs-core';
import { tf } from './tf.js';

interface CopiesValues {
  copyValuesInto(dataId: DataId, dst: Float32Array, offset: number, add: boolean): void;
}

function copiesValues(b: unknown): b is CopiesValues {
  return typeof (b as Partial<CopiesValues>).copyValuesInto === 'function';
}

/** dst[offset + j] += src[j] */
export function addInto(dst: Float32Array, src: ArrayLike<number>, offset: number): void {
  for (let j = 0; j < src.length; j++) dst[offset + j] += src[j];
}

/**
 * dst[offset + j] = t[j] (or += when `add`). Backends that can (onednn) do it without handing the
 * tensor's buffer out, which keeps it reusable; the others go through dataSync.
 */
export function readTensorInto(t: tf.Tensor, dst: Float32Array, offset: number, add: boolean): void {
  if (offset < 0 || offset + t.size > dst.length) throw new RangeError(`readTensorInto: ${t.size} values at ${offset} do not fit in ${dst.length}`);
  const be = tf.engine().findBackend(tf.getBackend());
  if (copiesValues(be) && t.dtype === 'float32') {
    be.copyValuesInto(t.dataId, dst, offset, add);
    return;
  }
  const d = t.dataSync();
  if (add) addInto(dst, d, offset);
  else dst.set(d, offset);
}
