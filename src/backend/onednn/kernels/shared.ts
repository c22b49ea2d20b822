// What every native kernel file uses: the addon and its resolved op codes (bound once at
// registration), float32 views of tensor data, output allocation from the backend's buffer pool,
// call counters, and the wrapper that falls back to tfjs's cpu kernel where a native one does not apply.
import { util, getKernel } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo, NamedAttrMap } from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { OnednnAddon } from '../addon.js';
import type { OpCodes } from '../op_codes.js';

export const ONEDNN_BACKEND = 'onednn';

export type Backend = MathBackendCPU;
export interface KernelArgs { inputs: Record<string, TensorInfo>; backend: Backend; attrs?: NamedAttrMap }

let bound: { addon: OnednnAddon; codes: OpCodes } | null = null;

/** Binds the loaded addon and its op codes (registerOnednnBackend, before any kernel runs). */
export function bindAddon(addon: OnednnAddon, codes: OpCodes): void {
  bound = { addon, codes };
}
function native(): { addon: OnednnAddon; codes: OpCodes } {
  if (!bound) throw new Error('onednn: a kernel ran before the addon was bound');
  return bound;
}
export function addon(): OnednnAddon {
  return native().addon;
}
export function opCodes(): OpCodes {
  return native().codes;
}

/** Counts of native calls and fallbacks per kernel (for tests and the bench). */
export const kernelStats: { native: Record<string, number>; fallback: Record<string, number> } = { native: {}, fallback: {} };
function count(kind: 'native' | 'fallback', name: string): void {
  kernelStats[kind][name] = (kernelStats[kind][name] ?? 0) + 1;
}

/** The tensor's values when it is float32 and held as a Float32Array, else null. */
export function f32(backend: Backend, t: TensorInfo): Float32Array | null {
  if (t.dtype !== 'float32') return null;
  const v = backend.data.get(t.dataId)?.values;
  return v instanceof Float32Array ? v : null;
}

/** f32, or a one-line error naming the kernel input (custom kernels have no fallback). */
export function need(backend: Backend, t: TensorInfo | undefined, what: string): Float32Array {
  const v = t ? f32(backend, t) : null;
  if (!v) throw new Error(`onednn ${what}: expected a float32 tensor`);
  return v;
}

let currentBackend: Backend | null = null;
/** An uninitialised Float32Array (no zero fill: every native kernel writes all of its output),
 *  from the backend's buffer pool when it has one. */
export function empty(n: number): Float32Array {
  const b = currentBackend as unknown as { alloc?: (n: number) => Float32Array } | null;
  if (b?.alloc) return b.alloc(n);
  if (n === 0) return new Float32Array(0);
  const buf = Buffer.allocUnsafeSlow(n * 4);
  return new Float32Array(buf.buffer, buf.byteOffset, n);
}

export function out(backend: Backend, shape: readonly number[], values: Float32Array): TensorInfo {
  return backend.makeTensorInfo([...shape], 'float32', values);
}

export function size(shape: readonly number[]): number {
  return util.sizeFromShape(shape as number[]);
}

/**
 * A kernel of the onednn backend for tfjs kernel `kernelName`: `run` returns its output, or null
 * where the native kernel does not apply (other dtypes, NCHW, ...); then tfjs's cpu kernel runs.
 */
export function nativeKernel(kernelName: string, run: (args: KernelArgs) => TensorInfo | null): KernelConfig {
  let cpu: KernelFunc | undefined;
  const kernelFunc = ((args: KernelArgs) => {
    currentBackend = args.backend;
    const r = run(args);
    if (r) {
      count('native', kernelName);
      return r;
    }
    count('fallback', kernelName);
    cpu ??= getKernel(kernelName, 'cpu')?.kernelFunc;
    if (!cpu) throw new Error(`onednn: kernel ${kernelName} has no reference implementation`);
    return cpu(args as never);
  }) as unknown as KernelFunc;
  return { kernelName, backendName: ONEDNN_BACKEND, kernelFunc };
}

/** A Gradia kernel (src/backend/kernel_names.ts) of the onednn backend: always native. */
export function customKernel(kernelName: string, run: (args: KernelArgs) => TensorInfo | TensorInfo[]): KernelConfig {
  const kernelFunc = ((args: KernelArgs) => {
    count('native', kernelName);
    currentBackend = args.backend;
    return run(args);
  }) as unknown as KernelFunc;
  return { kernelName, backendName: ONEDNN_BACKEND, kernelFunc };
}

/** Row-major element strides of `shape`. */
export function strides(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let t = 1;
  for (let i = shape.length - 1; i >= 0; i--) { st[i] = t; t *= shape[i]; }
  return st;
}
