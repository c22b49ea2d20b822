// Kernels over flat Float32Arrays that update them in place, per backend, beside tfjs's own
// registry. tfjs kernels take and return tensors; Adam updates the flat parameter and moment
// vectors the all-reduce produces in place, which a tensor kernel could only do by copying four
// vectors per step on backends that copy on write (wasm, tensorflow).
import { tf } from './tf.js';

type VectorKernel = (args: never) => void;
const registry = new Map<string, VectorKernel>();

/** Registers `fn` as kernel `name` of backend `backendName` (replacing an earlier one). */
export function registerVectorKernel<A>(name: string, backendName: string, fn: (args: A) => void): void {
  registry.set(`${backendName}/${name}`, fn as VectorKernel);
}

/** Runs kernel `name` of the active backend, or `fallback` (the same math in JS) when it has none. */
export function runVectorKernel<A>(name: string, args: A, fallback: (args: A) => void): void {
  const k = registry.get(`${tf.getBackend()}/${name}`) as ((a: A) => void) | undefined;
  (k ?? fallback)(args);
}
