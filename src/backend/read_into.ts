// Reading a tensor's values into part of a larger Float32Array (flat gradients), copying or adding.
import type { BackendValues, DataId } from '@tensorflow/tfjs-core';
import { tf } from './tf.js';

interface PeeksValues {
  peekValues(dataId: DataId): BackendValues;
}

function peeksValues(b: unknown): b is PeeksValues {
  return typeof (b as Partial<PeeksValues>).peekValues === 'function';
}

/**
 * dst[offset + j] = t[j] (or += when `add`). Backends that can (onednn) hand the values over without
 * giving the tensor's buffer away, which keeps it reusable; the others go through dataSync.
 */
export function readTensorInto(t: tf.Tensor, dst: Float32Array, offset: number, add: boolean): void {
  if (offset < 0 || offset + t.size > dst.length) throw new RangeError(`readTensorInto: ${t.size} values at ${offset} do not fit in ${dst.length}`);
  const be = tf.engine().findBackend(tf.getBackend());
  const d = peeksValues(be) && t.dtype === 'float32' ? be.peekValues(t.dataId) as Float32Array : t.dataSync();
  if (add) {
    for (let j = 0; j < d.length; j++) dst[offset + j] += d[j];
  } else {
    dst.set(d, offset);
  }
}
