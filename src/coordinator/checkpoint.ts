// Checkpoints: <name>.safetensors (torchvision keys and layouts: usable by PyTorch),
// <name>.optim.safetensors (Adam m, v, t) and <name>.json (metadata). The JSON is the
// commit record: all three carry the same id, and they are committed through a small
// journal (write every file as *.next and fsync, then rename them into place, JSON last),
// so a crash at any point leaves either the old checkpoint or the new one, never a mix.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { atomicWrite, readSafetensorsFile, writeSafetensors } from '../model/safetensors.js';
import { tensorSpecs, tfToTorch, torchToTf } from '../model/resnet.js';
import type { ArchName } from '../model/types.js';
import type { ReplicaState } from '../worker/types.js';
import { GradiaInputError } from '../util/errors.js';

export const CHECKPOINT_FORMAT = 'gradia-dist-checkpoint/1';

export interface EpochRecord {
  epoch: number;
  taskLoss: number;
  attLoss: number;
  accuracy: number;
  iou: number | null;
  seconds: number;
  images: number;
}

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
  config: Record<string, unknown>;
  dataFingerprint: string;
  createdAt: string;
  hasOptimizer: boolean;
}

const files = (dir: string, name: string) => ({
  weights: path.join(dir, `${name}.safetensors`),
  optim: path.join(dir, `${name}.optim.safetensors`),
  meta: path.join(dir, `${name}.json`),
});

/** Splits flat (params, buffers) into torchvision state_dict tensors in torch layouts. */
function stateDict(arch: ArchName, numClasses: number, state: { params: Float32Array; buffers: Float32Array }) {
  let p = 0;
  let b = 0;
  return tensorSpecs(arch, numClasses).map((s) => {
    const size = s.shape.reduce((a, c) => a * c, 1);
    const src = s.isBuffer ? state.buffers.subarray(b, (b += size)) : state.params.subarray(p, (p += size));
    return { name: s.name, shape: s.torchShape, dtype: (s.kind === 'num_batches_tracked' ? 'I64' : 'F32') as 'I64' | 'F32', data: tfToTorch(s, Float32Array.from(src)) };
  });
}

export function saveCheckpoint(dir: string, meta: Omit<CheckpointMeta, 'id' | 'format' | 'createdAt' | 'hasOptimizer'>, state: ReplicaState, withOptimizer = true): CheckpointMeta {
  const full: CheckpointMeta = {
    ...meta,
    format: CHECKPOINT_FORMAT,
    id: crypto.randomBytes(8).toString('hex'),
    createdAt: new Date().toISOString(),
    hasOptimizer: withOptimizer,
  };
  const f = files(dir, meta.name);
  const tag = { gradia_checkpoint: full.id, arch: meta.arch, format: 'pt' };
  writeSafetensors(`${f.weights}.next`, stateDict(meta.arch, meta.numClasses, state), tag);
  if (withOptimizer) {
    writeSafetensors(`${f.optim}.next`, [
      { name: 'adam.m', shape: [state.adam.m.length], dtype: 'F32', data: state.adam.m },
      { name: 'adam.v', shape: [state.adam.v.length], dtype: 'F32', data: state.adam.v },
    ], { gradia_checkpoint: full.id, adam_t: String(state.adam.t) });
  }
  atomicWrite(`${f.meta}.next`, Buffer.from(`${JSON.stringify(full, null, 2)}\n`));
  commit(dir, meta.name);
  return full;
}

/** Rolls a journalled checkpoint forward: renames *.next into place, the JSON last. */
function commit(dir: string, name: string): void {
  const f = files(dir, name);
  if (!fs.existsSync(`${f.meta}.next`)) return;
  for (const target of [f.weights, f.optim]) {
    if (fs.existsSync(`${target}.next`)) fs.renameSync(`${target}.next`, target);
  }
  fs.renameSync(`${f.meta}.next`, f.meta);
}

export function checkpointExists(dir: string, name: string): boolean {
  commit(dir, name);
  return fs.existsSync(files(dir, name).meta);
}

export function readCheckpointMeta(dir: string, name: string): CheckpointMeta {
  commit(dir, name);
  const f = files(dir, name);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(fs.readFileSync(f.meta, 'utf8')) as CheckpointMeta;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new GradiaInputError(f.meta, code === 'ENOENT' ? `no checkpoint named '${name}' in ${dir}` : `not a readable checkpoint (${(e as Error).message})`);
  }
  if (meta.format !== CHECKPOINT_FORMAT) throw new GradiaInputError(f.meta, `not a gradia-dist checkpoint (format ${String(meta.format)})`);
  return meta;
}

/** Reads a checkpoint back into flat state; `adam` is null when it was saved without one. */
export function loadCheckpoint(dir: string, name: string): { meta: CheckpointMeta; state: Omit<ReplicaState, 'adam'> & { adam: ReplicaState['adam'] | null } } {
  const meta = readCheckpointMeta(dir, name);
  const f = files(dir, name);
  const { tensors: weights, metadata: weightsMeta } = readSafetensorsFile(f.weights);
  const specs = tensorSpecs(meta.arch, meta.numClasses);
  const params: Float32Array[] = [];
  const buffers: Float32Array[] = [];
  for (const s of specs) {
    const t = weights.get(s.name);
    if (!t) throw new GradiaInputError(f.weights, `missing tensor '${s.name}' for ${meta.arch}`);
    if (t.shape.join(',') !== s.torchShape.join(',')) throw new GradiaInputError(f.weights, `tensor '${s.name}' has shape [${t.shape.join(', ')}], expected [${s.torchShape.join(', ')}]`);
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
