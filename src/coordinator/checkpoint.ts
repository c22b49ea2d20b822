// Checkpoints: <name>.safetensors (torchvision keys and layouts: usable by PyTorch),
// <name>.optim.safetensors (Adam m, v, t) and <name>.json (metadata). The JSON is the
// commit record: all three carry the same id, and they are committed through a small
// journal (write every file as *.next and fsync, then rename them into place, JSON last),
// so a crash at any point leaves either the old checkpoint or the new one, never a mix.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describeNonFinite, firstNonFinite } from '../model/finite.js';
import { assertFinite, atomicWrite, readSafetensorsFile, readSafetensorsHeader, writeSafetensors } from '../model/safetensors.js';
import { tensorSpecs, tfToTorch, torchToTf } from '../model/resnet.js';
import { ARCH_NAMES, type ArchName, type TensorSpec } from '../model/types.js';
import { imputationSpecs } from '../model/objectives/imputation.js';
import { IMPUTATION_KINDS, type ImputationKind } from '../model/objectives/types.js';
import type { ReplicaState } from '../worker/types.js';
import { GradiaInputError } from '../util/errors.js';
import { FileWriteError } from '../util/fs_errors.js';
import { lockHeldByOther } from './model_dir_lock.js';
import { FEATURE_STRIDE, isValidInputSize } from '../config/geometry.js';

export const CHECKPOINT_FORMAT = 'gradia-dist-checkpoint/1';

export interface EpochRecord {
  epoch: number;
  taskLoss: number;
  attLoss: number;
  accuracy: number;
  iou: number | null;
  /** RES's explanation precision / recall / F1 (means over the maps; absent in older checkpoints). */
  explanation?: { precision: number; recall: number; f1: number } | null;
  seconds: number;
  images: number;
}

/** Running sums of an epoch's steps: its mean losses continue across a resume. */
export interface EpochProgress { taskSum: number; attSum: number; n: number; nAtt: number; seconds: number }

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  id: string;
  name: string;
  arch: ArchName;
  classes: string[];
  numClasses: number;
  inputSize: number;
  phase: 1 | 2;
  /** Epochs completed (1-based count). */
  epoch: number;
  /** Optimizer steps completed in the whole run. */
  step: number;
  /** Where a resumed run continues: 0-based epoch and the next global batch in it. */
  position: { epoch: number; batch: number };
  metrics: Record<string, number | null>;
  history: EpochRecord[];
  /** Best selection metric so far and the checkpoint that holds it. */
  best: { metric: 'accuracy' | 'iou'; value: number; name: string; epoch: number } | null;
  /** Id of the checkpoint this run started from (phase 2: the phase-1 model). */
  parent: string | null;
  /** The run's result-deciding settings (run spec: recordedSettings). */
  config: Record<string, unknown>;
  /** Running sums of the epoch a resumable checkpoint stopped in (absent in older checkpoints: config.partial). */
  epochProgress?: EpochProgress;
  dataFingerprint: string;
  createdAt: string;
  hasOptimizer: boolean;
}

const files = (dir: string, name: string) => ({
  weights: path.join(dir, `${name}.safetensors`),
  optim: path.join(dir, `${name}.optim.safetensors`),
  meta: path.join(dir, `${name}.json`),
});

/** What a checkpoint's sidecar says about the state's tensors. */
type StateShape = Pick<CheckpointMeta, 'arch' | 'numClasses' | 'phase' | 'config'>;

/**
 * The state's tensors in flat order: torchvision's state_dict, then (a phase-2 RES-L run)
 * the imputation network under RES's module names (imp.*, imp_conv*.*), which torchvision
 * and GRADIA.py checkpoints never have.
 */
export function stateSpecs(m: StateShape): TensorSpec[] {
  const specs = tensorSpecs(m.arch, m.numClasses);
  const kind = m.config.imputation as ImputationKind | undefined;
  if (m.phase === 2 && m.config.objective === 'res-l' && kind && IMPUTATION_KINDS.includes(kind)) specs.push(...imputationSpecs(kind));
  return specs;
}

/** Splits flat (params, buffers) into state_dict tensors in torch layouts. */
function stateDict(m: StateShape, state: { params: Float32Array; buffers: Float32Array }) {
  let p = 0;
  let b = 0;
  return stateSpecs(m).map((s) => {
    const size = s.shape.reduce((a, c) => a * c, 1);
    const src = s.isBuffer ? state.buffers.subarray(b, (b += size)) : state.params.subarray(p, (p += size));
    return { name: s.name, shape: s.torchShape, dtype: (s.kind === 'num_batches_tracked' ? 'I64' : 'F32') as 'I64' | 'F32', data: tfToTorch(s, Float32Array.from(src)) };
  });
}

/** A state holding NaN or Inf: the checkpoint is not written. */
export class NonFiniteStateError extends Error {
  constructor(readonly checkpoint: string, readonly tensor: string, detail: string) {
    super(`${checkpoint}: not written: tensor '${tensor}' holds ${detail}; a checkpoint is never written with non-finite values`);
    this.name = 'NonFiniteStateError';
  }
}

/** A state whose length is not its tensors' (e.g. RES-L's network missing) is never written. */
function checkStateSize(where: string, m: StateShape, state: { params: Float32Array; buffers: Float32Array }): void {
  let p = 0;
  let b = 0;
  for (const s of stateSpecs(m)) { const n = s.shape.reduce((a, c) => a * c, 1); if (s.isBuffer) b += n; else p += n; }
  if (state.params.length !== p || state.buffers.length !== b) {
    throw new Error(`${where}: not written: the state holds ${state.params.length} parameters and ${state.buffers.length} buffer values, its tensors (${m.arch}${p > 0 && stateSpecs(m).some((s) => s.name.startsWith('imp')) ? ' + RES-L imputation' : ''}) need ${p} and ${b}`);
  }
}

/** Throws NonFiniteStateError naming the first tensor of `state` that holds NaN or Inf. */
function checkStateFinite(where: string, m: StateShape, state: ReplicaState, withOptimizer: boolean): void {
  let p = 0;
  let b = 0;
  const paramNames: Array<[string, number, number]> = [];
  for (const s of stateSpecs(m)) {
    const size = s.shape.reduce((a, c) => a * c, 1);
    const from = s.isBuffer ? b : p;
    if (s.isBuffer) b += size; else { p += size; paramNames.push([s.name, from, p]); }
    const bad = describeNonFinite((s.isBuffer ? state.buffers : state.params).subarray(from, from + size));
    if (bad) throw new NonFiniteStateError(where, s.name, bad);
  }
  if (!withOptimizer) return;
  for (const [key, data] of [['adam.m', state.adam.m], ['adam.v', state.adam.v]] as const) {
    const bad = describeNonFinite(data);
    if (!bad) continue;
    // Name the parameter whose moments went bad, too.
    const i = firstNonFinite(data);
    const at = paramNames.find(([, from, to]) => i >= from && i < to);
    throw new NonFiniteStateError(where, key, `${bad}${at ? `, first in the moments of '${at[0]}'` : ''}`);
  }
}

/**
 * Writes a checkpoint through the journal. Refuses (before writing any file) a state
 * holding NaN or Inf; a filesystem error throws a FileWriteError naming the file (the
 * checkpoint of that name that was there before stays intact).
 */
export function saveCheckpoint(dir: string, meta: Omit<CheckpointMeta, 'id' | 'format' | 'createdAt' | 'hasOptimizer'>, state: ReplicaState, withOptimizer = true): CheckpointMeta {
  const full: CheckpointMeta = {
    ...meta,
    format: CHECKPOINT_FORMAT,
    id: crypto.randomBytes(8).toString('hex'),
    createdAt: new Date().toISOString(),
    hasOptimizer: withOptimizer,
  };
  checkStateSize(path.join(dir, meta.name), meta, state);
  checkStateFinite(path.join(dir, meta.name), meta, state, withOptimizer);
  const f = files(dir, meta.name);
  const tag = { gradia_checkpoint: full.id, arch: meta.arch, format: 'pt' };
  writeSafetensors(`${f.weights}.next`, stateDict(meta, state), tag);
  if (withOptimizer) {
    writeSafetensors(`${f.optim}.next`, [
      { name: 'adam.m', shape: [state.adam.m.length], dtype: 'F32', data: state.adam.m },
      { name: 'adam.v', shape: [state.adam.v.length], dtype: 'F32', data: state.adam.v },
    ], { gradia_checkpoint: full.id, adam_t: String(state.adam.t) });
  } else {
    // An optimizer journal file of an earlier, uncommitted write must not be committed with this one.
    rmOrExplain(`${f.optim}.next`);
  }
  atomicWrite(`${f.meta}.next`, Buffer.from(`${JSON.stringify(full, null, 2)}\n`));
  commit(dir, meta.name);
  return full;
}

function rmOrExplain(file: string): void {
  try { fs.rmSync(file, { force: true }); } catch (e) { throw new FileWriteError(file, e); }
}

/**
 * Rolls a journalled checkpoint forward: renames *.next into place, the JSON last. Not
 * while another live run holds the model dir's lock (that run is committing it itself).
 */
function commit(dir: string, name: string): void {
  const f = files(dir, name);
  if (!fs.existsSync(`${f.meta}.next`)) return;
  if (lockHeldByOther(dir)) return;
  for (const target of [f.weights, f.optim, f.meta]) {
    if (!fs.existsSync(`${target}.next`)) continue;
    try { fs.renameSync(`${target}.next`, target); } catch (e) { throw new FileWriteError(`${target}.next`, e); }
  }
}

/**
 * Refuses a data set whose classes (names, in order) are not those checkpoint `name` in
 * `dir` was trained on: labels are indices into that list.
 */
export function checkSameClasses(dir: string, name: string, trainedOn: readonly string[], dataClasses: readonly string[]): void {
  if (trainedOn.length === dataClasses.length && trainedOn.every((c, i) => c === dataClasses[i])) return;
  throw new GradiaInputError(path.join(dir, `${name}.json`), `was trained on classes [${trainedOn.join(', ')}], the data set has [${dataClasses.join(', ')}]`);
}

export function checkpointExists(dir: string, name: string): boolean {
  commit(dir, name);
  return fs.existsSync(files(dir, name).meta);
}

/** "; the last checkpoint is <dir>/<name>: rerun with --resume" when it exists, else "". */
export function resumeHint(dir: string, name: string): string {
  return checkpointExists(dir, name) ? `; the last checkpoint is ${path.join(dir, name)}: rerun with --resume` : '';
}

/** Problems of a sidecar's fields (null when it has every field a checkpoint needs, of the right type). */
function sidecarProblem(meta: unknown): string | null {
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return `is ${meta === null ? 'null' : Array.isArray(meta) ? 'a list' : typeof meta}, not a checkpoint's JSON object`;
  const m = meta as Record<string, unknown>;
  if (m.format !== CHECKPOINT_FORMAT) return `is not a gradia-dist checkpoint (field 'format' is ${JSON.stringify(m.format)}, not "${CHECKPOINT_FORMAT}")`;
  const field = (key: string, ok: boolean, want: string) => (ok ? null : `field '${key}' is ${m[key] === undefined ? 'missing' : JSON.stringify(m[key])}, not ${want}`);
  const whole = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const pos = m.position as Record<string, unknown> | null | undefined;
  return field('id', typeof m.id === 'string' && m.id.length > 0, 'a checkpoint id')
    ?? field('arch', typeof m.arch === 'string' && (ARCH_NAMES as readonly string[]).includes(m.arch), `one of ${ARCH_NAMES.join(', ')}`)
    ?? field('classes', Array.isArray(m.classes) && m.classes.length > 0 && m.classes.every((c) => typeof c === 'string'), 'a list of class names')
    ?? field('numClasses', m.numClasses === (m.classes as unknown[]).length, `the number of classes (${(m.classes as unknown[]).length})`)
    ?? field('inputSize', isValidInputSize(m.inputSize), `a whole multiple of ${FEATURE_STRIDE}`)
    ?? field('phase', m.phase === 1 || m.phase === 2, '1 or 2')
    ?? field('epoch', whole(m.epoch), 'a whole number')
    ?? field('step', whole(m.step), 'a whole number')
    ?? field('position', pos !== null && typeof pos === 'object' && whole(pos.epoch) && whole(pos.batch), '{ "epoch": E, "batch": B } with whole numbers')
    ?? field('history', Array.isArray(m.history), 'a list')
    ?? field('best', m.best === null || (typeof m.best === 'object' && !Array.isArray(m.best)), 'null or an object')
    ?? field('parent', m.parent === null || typeof m.parent === 'string', 'null or a checkpoint id')
    ?? field('config', m.config !== null && typeof m.config === 'object' && !Array.isArray(m.config), 'an object')
    ?? field('dataFingerprint', typeof m.dataFingerprint === 'string', 'a string')
    ?? field('hasOptimizer', typeof m.hasOptimizer === 'boolean', 'true or false');
}

/**
 * Reads and checks a checkpoint's sidecar JSON, and checks (from its header only) that the
 * weights file beside it belongs to it: a safetensors file swapped under another
 * checkpoint's sidecar is refused wherever a checkpoint is opened.
 */
export function readCheckpointMeta(dir: string, name: string): CheckpointMeta {
  commit(dir, name);
  const f = files(dir, name);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(fs.readFileSync(f.meta, 'utf8').replace(/^\uFEFF/, '')) as CheckpointMeta;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new GradiaInputError(f.meta, code === 'ENOENT' ? `no checkpoint named '${name}' in ${dir}` : `not a readable checkpoint (${(e as Error).message})`);
  }
  const problem = sidecarProblem(meta);
  if (problem) throw new GradiaInputError(f.meta, problem);
  const id = readSafetensorsHeader(f.weights).metadata.gradia_checkpoint;
  if (id !== meta.id) throw new GradiaInputError(f.weights, `belongs to checkpoint ${id ?? '(none)'}, but ${f.meta} is ${meta.id}: weights swapped or half-copied?`);
  return meta;
}

/** Reads a checkpoint back into flat state; `adam` is null when it was saved without one. */
export function loadCheckpoint(dir: string, name: string): { meta: CheckpointMeta; state: Omit<ReplicaState, 'adam'> & { adam: ReplicaState['adam'] | null } } {
  const meta = readCheckpointMeta(dir, name);
  const f = files(dir, name);
  const { tensors: weights, metadata: weightsMeta } = readSafetensorsFile(f.weights);
  const specs = stateSpecs(meta);
  const params: Float32Array[] = [];
  const buffers: Float32Array[] = [];
  for (const s of specs) {
    const t = weights.get(s.name);
    if (!t) throw new GradiaInputError(f.weights, `missing tensor '${s.name}' for ${meta.arch}`);
    if (t.shape.join(',') !== s.torchShape.join(',')) throw new GradiaInputError(f.weights, `tensor '${s.name}' has shape [${t.shape.join(', ')}], expected [${s.torchShape.join(', ')}]`);
    assertFinite(f.weights, s.name, t.data);
    (s.isBuffer ? buffers : params).push(torchToTf(s, t.data));
  }
  const ids: [string, string | undefined][] = [[f.weights, weightsMeta.gradia_checkpoint]];
  let adam: ReplicaState['adam'] | null = null;
  if (meta.hasOptimizer) {
    const { tensors: st, metadata } = readSafetensorsFile(f.optim);
    const m = st.get('adam.m');
    const v = st.get('adam.v');
    const t = Number(metadata.adam_t);
    if (!m || !v || !Number.isInteger(t)) throw new GradiaInputError(f.optim, 'optimizer state is incomplete (adam.m, adam.v, adam_t)');
    assertFinite(f.optim, 'adam.m', m.data);
    assertFinite(f.optim, 'adam.v', v.data);
    adam = { m: m.data, v: v.data, t };
    ids.push([f.optim, metadata.gradia_checkpoint]);
  }
  for (const [file, id] of ids) {
    if (id !== meta.id) throw new GradiaInputError(file, `belongs to checkpoint ${id ?? '(none)'}, but ${f.meta} is ${meta.id}: a half-copied checkpoint?`);
  }
  return { meta, state: { params: concat(params), buffers: concat(buffers), adam } };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/**
 * What a resume would start from after a failed write: "the last checkpoint D/N (epoch E,
 * step S) is intact", or that there is none yet. Reads without rolling the journal forward.
 */
export function describeResumePoint(dir: string, name: string): { intact: boolean; text: string } {
  const f = files(dir, name);
  const shown = path.join(dir, name);
  for (const file of [`${f.meta}.next`, f.meta]) {
    let meta: CheckpointMeta;
    try { meta = JSON.parse(fs.readFileSync(file, 'utf8')) as CheckpointMeta; } catch { continue; }
    if (sidecarProblem(meta) || (!fs.existsSync(f.weights) && !fs.existsSync(`${f.weights}.next`))) continue;
    return { intact: true, text: `the last checkpoint ${shown} (epoch ${meta.epoch}, step ${meta.step}) is intact` };
  }
  return { intact: false, text: `no resumable checkpoint ${shown} was written yet` };
}

/**
 * A failed checkpoint write as one line: the file, why, and whether the last resumable
 * checkpoint is intact and how to go on. Other errors pass through unchanged.
 */
export function explainCheckpointWriteFailure(err: unknown, dir: string, resumable: string): unknown {
  if (!(err instanceof FileWriteError)) return err;
  const point = describeResumePoint(dir, resumable);
  const fix = err.code === 'ENOSPC' || err.code === 'EDQUOT' ? 'free space' : 'fix that';
  const e = new Error(`${err.message}; ${point.text}${point.intact ? `: ${fix} and rerun with --resume` : `: ${fix} and rerun`}`);
  e.name = 'CheckpointWriteError';
  return e;
}

/**
 * `predict --weights D/N.safetensors`: when D/N.json beside it is a gradia-dist checkpoint's
 * sidecar, returns it (checked; the weights must be that checkpoint's, a swapped file is
 * refused); else null (plain weights, e.g. torchvision's).
 */
export function sidecarOf(weights: string): CheckpointMeta | null {
  if (!weights.endsWith('.safetensors') || weights.endsWith('.optim.safetensors')) return null;
  const sidecar = `${weights.slice(0, -'.safetensors'.length)}.json`;
  let meta: unknown;
  try { meta = JSON.parse(fs.readFileSync(sidecar, 'utf8').replace(/^\uFEFF/, '')); } catch { return null; }
  if ((meta as { format?: unknown } | null)?.format !== CHECKPOINT_FORMAT) return null; // not a checkpoint's sidecar
  return readCheckpointMeta(path.dirname(weights), path.basename(sidecar, '.json'));
}
