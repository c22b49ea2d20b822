// Batched matrix multiplication shared by BatchMatMul and _FusedMatMul.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { addon, empty, f32, out, size, type Backend } from './shared.js';

/** a (or a^T) times b (or b^T) with a batch of 1 broadcasting; null where the native kernel does not apply. */
export function nativeMatMul(backend: Backend, a: TensorInfo, b: TensorInfo, ta: boolean, tb: boolean): TensorInfo | null {
  const av = f32(backend, a);
  const bv = f32(backend, b);
  if (!av || !bv || a.shape.length < 2 || b.shape.length < 2) return null;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const M = ta ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = ta ? a.shape[ra - 2] : a.shape[ra - 1];
  const K2 = tb ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = tb ? b.shape[rb - 2] : b.shape[rb - 1];
  if (K !== K2) return null; // let the reference kernel raise its error
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const Ba = size(batchA);
  const Bb = size(batchB);
  let outBatch: number[];
  if (Ba === Bb && (batchA.length === batchB.length)) outBatch = batchA;
  else if (Ba === 1) outBatch = batchB.length >= batchA.length ? batchB : [...batchA.slice(0, batchA.length - batchB.length), ...batchB];
  else if (Bb === 1) outBatch = batchA.length >= batchB.length ? batchA : [...batchB.slice(0, batchB.length - batchA.length), ...batchA];
  else return null;
  if (Ba !== Bb && Ba !== 1 && Bb !== 1) return null;
  if (M * N * K === 0) return null;
  const o = empty(Math.max(Ba, Bb) * M * N);
  addon().matmul(av, bv, o, [Ba, Bb, M, K, N, ta ? 1 : 0, tb ? 1 : 0]);
  return out(backend, [...outBatch, M, N], o);
}
