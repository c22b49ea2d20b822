// The `onednn` tfjs backend: tfjs's cpu backend (tensors are plain TypedArrays in native memory,
// no 4 GiB WASM heap) with the hot kernels replaced by the oneDNN addon in native/.
//
//   const r = await registerOnednnBackend();   // { ok: true } | { ok: false, reason }
//   if (r.ok) await tf.setBackend('onednn');
//   setOnednnThreads(2);                        // OpenMP threads used by the native kernels
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu'; // registers the cpu kernels this backend re-registers
import { OnednnBackend } from './backend.js';
import { addonPath, loadAddon, type OnednnAddon } from './addon.js';
import { resolveOpCodes } from './op_codes.js';
import { NATIVE_KERNELS, GRADIA_KERNELS, GRADIA_GRADIENTS, gradiaAdam, kernelStats, bindAddon, ONEDNN_BACKEND } from './kernels/index.js';
import { registerVectorKernel } from '../vector_kernels.js';
import { GRADIA_ADAM } from '../kernel_names.js';

export { ONEDNN_BACKEND };
export { kernelStats };
export { OnednnBackend };

/** Most MiB of free output buffers the backend keeps for reuse (GRADIA_ONEDNN_POOL_MB overrides).
 *  A cap, not a target (trimPool() keeps only what the steady state reuses): a ResNet-50 step at
 *  224 px, batch 16 has ~4.6 GB of live tensors (README), so 4 GiB holds roughly one step of outputs for
 *  reuse without letting the pool grow past the size of a step. */
const DEFAULT_POOL_MB = 4096;

/** Per-kernel wall time in ms and call counts, filled only when GRADIA_ONEDNN_PROFILE=1 at registration. */
export const kernelTimes: Record<string, { ms: number; calls: number }> = {};
function timed(k: tf.KernelConfig): tf.KernelConfig {
  const f = k.kernelFunc;
  const kernelFunc = ((args: Parameters<tf.KernelFunc>[0]) => {
    const t0 = performance.now();
    try {
      return f(args);
    } finally {
      const e = (kernelTimes[k.kernelName] ??= { ms: 0, calls: 0 });
      e.ms += performance.now() - t0;
      e.calls++;
    }
  }) as tf.KernelFunc;
  return { ...k, kernelFunc };
}

let state: { ok: true; addon: OnednnAddon; nativeKernelNames: string[] } | { ok: false; reason: string } | undefined;

/**
 * Registers the tfjs backend `onednn` (idempotent). Returns ok:false with a one-line reason (saying
 * what to install) when the native addon is not built or cannot load; nothing is registered then.
 */
export async function registerOnednnBackend(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (state) return state.ok ? { ok: true } : { ok: false, reason: state.reason };
  const loaded = loadAddon();
  if ('error' in loaded) {
    state = { ok: false, reason: loaded.error };
    return { ok: false, reason: state.reason };
  }
  const addon = loaded.addon;
  try {
    const envThreads = Number(process.env.GRADIA_ONEDNN_THREADS);
    if (Number.isInteger(envThreads) && envThreads > 0) addon.setThreads(envThreads);
    bindAddon(addon, resolveOpCodes(addon.opCodes, addonPath()));
    const cpuKernels = tf.getKernelsForBackend('cpu');
    if (cpuKernels.length === 0) throw new Error('no kernels registered for the cpu backend');
    const natives = [...NATIVE_KERNELS, ...GRADIA_KERNELS];
    const nativeNames = new Set(natives.map((k) => k.kernelName));
    const profile = process.env.GRADIA_ONEDNN_PROFILE === '1';
    const reg = (k: tf.KernelConfig): void => tf.registerKernel(profile ? timed(k) : k);
    for (const k of cpuKernels) {
      if (nativeNames.has(k.kernelName)) continue;
      reg({ ...k, backendName: ONEDNN_BACKEND });
    }
    for (const k of natives) reg(k);
    for (const g of GRADIA_GRADIENTS) tf.registerGradient(g);
    registerVectorKernel(GRADIA_ADAM, ONEDNN_BACKEND, gradiaAdam);
    const poolMb = Number(process.env.GRADIA_ONEDNN_POOL_MB);
    const maxPoolBytes = (Number.isFinite(poolMb) && poolMb >= 0 ? poolMb : DEFAULT_POOL_MB) * 2 ** 20;
    tf.registerBackend(ONEDNN_BACKEND, () => new OnednnBackend(maxPoolBytes), 0);
    state = { ok: true, addon, nativeKernelNames: [...nativeNames].sort() };
    return { ok: true };
  } catch (e) {
    state = { ok: false, reason: `the onednn backend failed to register: ${e instanceof Error ? e.message : String(e)}` };
    return { ok: false, reason: state.reason };
  }
}

/** Sets the OpenMP thread count of the native kernels (for the calling JS thread). */
export function setOnednnThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`setOnednnThreads: need a positive integer, got ${n}`);
  const loaded = loadAddon();
  if ('error' in loaded) throw new Error(loaded.error);
  loaded.addon.setThreads(n);
}

/** What the backend is: oneDNN version, thread count and the kernels that run natively. */
export function onednnInfo(): { available: boolean; reason?: string; version?: string; threads?: number; nativeKernels?: string[] } {
  const loaded = loadAddon();
  if ('error' in loaded) return { available: false, reason: loaded.error };
  return {
    available: true,
    version: loaded.addon.version(),
    threads: loaded.addon.getThreads(),
    nativeKernels: state?.ok ? state.nativeKernelNames : undefined,
  };
}
