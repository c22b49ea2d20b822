// Backend selection: `auto | tensorflow | onednn | wasm | cpu`.
import { createRequire } from 'node:module';
import { tf } from './tf.js';
import { GradiaInputError } from '../util/errors.js';

import { BACKEND_REQUESTS, type BackendRequest } from './names.js';

export type { BackendRequest } from './names.js';
export interface BackendChoice { name: string; reason: string }

const BACKENDS: readonly BackendRequest[] = BACKEND_REQUESTS;

/** Dynamic import that hides the specifier from TypeScript (optional dependencies). */
async function optionalImport(spec: string): Promise<unknown> {
  return import(spec);
}

async function tryTensorflow(): Promise<{ ok: true; pkg: string } | { ok: false; reason: string }> {
  const reasons: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await optionalImport(pkg);
      if (tf.findBackendFactory('tensorflow') && (await tf.setBackend('tensorflow'))) return { ok: true, pkg };
      reasons.push(`${pkg} loaded but its 'tensorflow' backend did not initialise`);
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      reasons.push(/Cannot find (module|package)|ERR_MODULE_NOT_FOUND/.test(msg) ? `${pkg} is not installed` : `${pkg} failed to load: ${msg.split('\n')[0]}`);
    }
  }
  return { ok: false, reason: reasons.join('; ') };
}

type OnednnModule = {
  registerOnednnBackend(): Promise<{ ok: true } | { ok: false; reason: string }>;
  setOnednnThreads(n: number): void;
};

async function tryOnednn(threads?: number): Promise<{ ok: true } | { ok: false; reason: string }> {
  let mod: OnednnModule;
  try {
    mod = (await optionalImport('./onednn/index.js')) as OnednnModule;
  } catch (e) {
    return { ok: false, reason: `the oneDNN backend module is not available (${((e as Error).message ?? String(e)).split('\n')[0]})` };
  }
  if (typeof mod.registerOnednnBackend !== 'function') return { ok: false, reason: 'the oneDNN backend module exports no registerOnednnBackend()' };
  try {
    const r = await mod.registerOnednnBackend();
    if (!r.ok) return r;
    if (!(await tf.setBackend('onednn'))) return { ok: false, reason: "the 'onednn' backend did not initialise" };
    if (threads !== undefined) mod.setOnednnThreads(threads);
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: `the oneDNN backend failed: ${((e as Error).message ?? String(e)).split('\n')[0]}` };
  }
}

async function tryWasm(): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    if (await tf.setBackend('wasm')) return { ok: true };
    return { ok: false, reason: 'the WASM backend did not initialise' };
  } catch (e) {
    return { ok: false, reason: `the WASM backend failed: ${((e as Error).message ?? String(e)).split('\n')[0]}` };
  }
}

/**
 * Selects and initialises the tfjs backend. `auto` tries tfjs-node-gpu, tfjs-node, oneDNN,
 * WASM, then the pure-JS cpu backend; an explicit request that cannot be met throws a
 * one-line GradiaInputError. `threads` sets the native kernels' threads (oneDNN's OpenMP
 * pool) of this JS thread; unset keeps the library's default (all cores).
 */
export async function initBackend(requested: BackendRequest = 'auto', opts: { threads?: number } = {}): Promise<BackendChoice> {
  if (!BACKENDS.includes(requested)) throw new GradiaInputError(null, `--backend must be one of ${BACKENDS.join(', ')} (got '${requested}')`);
  if (requested === 'cpu') {
    await tf.setBackend('cpu');
    await tf.ready();
    return { name: 'cpu', reason: 'requested with --backend cpu' };
  }
  if (requested === 'tensorflow') {
    const r = await tryTensorflow();
    if (!r.ok) throw new GradiaInputError(null, `--backend tensorflow: ${r.reason} (install @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu, or use --backend auto)`);
    return { name: 'tensorflow', reason: `requested with --backend tensorflow (${r.pkg})` };
  }
  if (requested === 'onednn') {
    const r = await tryOnednn(opts.threads);
    if (!r.ok) throw new GradiaInputError(null, `--backend onednn: ${r.reason}`);
    return { name: 'onednn', reason: 'requested with --backend onednn' };
  }
  if (requested === 'wasm') {
    const r = await tryWasm();
    if (!r.ok) throw new GradiaInputError(null, `--backend wasm: ${r.reason}`);
    return { name: 'wasm', reason: 'requested with --backend wasm' };
  }
  const skipped: string[] = [];
  const t = await tryTensorflow();
  if (t.ok) return { name: 'tensorflow', reason: `auto: ${t.pkg} is installed` };
  skipped.push(t.reason);
  const o = await tryOnednn(opts.threads);
  if (o.ok) return { name: 'onednn', reason: `auto: ${skipped.join('; ')}; the oneDNN addon is built` };
  skipped.push(o.reason);
  const w = await tryWasm();
  if (w.ok) return { name: 'wasm', reason: `auto: ${skipped.join('; ')}; using WASM` };
  skipped.push(w.reason);
  await tf.setBackend('cpu');
  await tf.ready();
  return { name: 'cpu', reason: `auto: ${skipped.join('; ')}; falling back to the pure-JS cpu backend (slow)` };
}

const WASM_OOM = /memory access out of bounds|Aborted\(|out of memory|Cannot enlarge memory|RangeError: (WebAssembly|Array buffer allocation)/i;

/** True when `e` is the WASM 4 GiB heap abort. */
export function isWasmOutOfMemory(e: unknown): boolean {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return WASM_OOM.test(msg);
}

/**
 * Runs `fn`, translating the WASM heap abort ("memory access out of bounds") into one
 * clear GradiaInputError that tells the user to lower --micro-batch.
 */
export function withWasmMemoryHint<T>(fn: () => T, what = 'this step'): T {
  try {
    return fn();
  } catch (e) {
    if (isWasmOutOfMemory(e)) {
      throw new GradiaInputError(null, `${what} ran out of memory on the '${tf.getBackend()}' backend (the WASM heap is capped at 4 GiB): lower --micro-batch (ResNet-50 at 224 px fits at 4 or less)`);
    }
    throw e;
  }
}

/**
 * Whether `requested` resolves to a backend whose kernels use every core from one replica
 * (libtensorflow, oneDNN). There one replica with all cores beats a replica per core on
 * one machine (measured: bench/onednn_cluster.ts); WASM and pure JS run one core each.
 * Probes without initialising anything.
 */
export async function backendUsesAllCores(requested: BackendRequest): Promise<boolean> {
  if (requested === 'tensorflow' || requested === 'onednn') return true;
  if (requested !== 'auto') return false;
  const require = createRequire(import.meta.url);
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require.resolve(pkg);
      return true;
    } catch { /* not installed */ }
  }
  try {
    const mod = (await optionalImport('./onednn/index.js')) as { onednnInfo(): { available: boolean } };
    return mod.onednnInfo().available;
  } catch {
    return false;
  }
}
