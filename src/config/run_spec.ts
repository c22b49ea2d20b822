// Every option of a run, defined once: its flag (and the original GRADIA.py's spelling),
// how its text is parsed and checked, its default, its help, whether it decides the result
// (then checkpoints record it and --resume refuses a change) and whether replicas need it.
// The CLI's options, the run config, the replica config, the checkpoint's recorded
// settings, the resume check and the demo's overrides are all derived from these tables:
// a new flag is one entry here plus the code that uses it.
import { BACKEND_REQUESTS, type BackendRequest } from '../backend/names.js';
import { ARCH_NAMES, type ArchName, type CamMode } from '../model/types.js';
import { DEFAULT_DECODE_CACHE_MB } from '../data/pipeline.js';
import { GradiaInputError } from '../util/errors.js';
import type { ReplicaConfig } from '../worker/types.js';
import { checkInputSize } from './geometry.js';
import { IMPUTATION_KINDS, OBJECTIVE_NAMES, type ImputationKind, type ObjectiveName } from '../model/objectives/types.js';

export interface OptionDef<T> {
  /** Commander's flag syntax: `--micro-batch <n>`, or `--resume` for a switch. */
  flag: string;
  /** A one-letter alias (`-j`). */
  short?: string;
  /** The original GRADIA.py's spelling, rewritten to `flag` before parsing (`--n_epoch`). */
  original?: string;
  help: string;
  /** Parses and checks the flag's text; throws one line naming the flag. Switches have none. */
  parse?: (text: string) => T;
  choices?: readonly string[];
  /** The value when the flag is absent. */
  default: T;
  /** Shown in --help instead of the default when it depends on something else. */
  defaultHelp?: string;
  /** Recorded in every checkpoint; a resumed run must have the same value (unless resumeMayChange). */
  decidesResult?: boolean;
  resumeMayChange?: boolean;
  /** Sent to every replica as ReplicaConfig[replica]. */
  replica?: ReplicaField;
}

/** The ReplicaConfig fields that come straight from a training option. */
type ReplicaField = 'arch' | 'inputSize' | 'seed' | 'lr' | 'attentionWeight' | 'camMode' | 'microBatch' | 'originalFlipBug' | 'freezeBn'
  | 'objective' | 'imputation' | 'eta' | 'imputationReg';

const option = <T>(def: OptionDef<T>): OptionDef<T> => def;

// ---- parsers: each names its flag in the one-line error ----
export const wholeNumber = (flag: string, min = 0) => (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new GradiaInputError(null, `${flag} must be a whole number >= ${min}, got '${v}'`);
  return n;
};
export const finiteNumber = (flag: string) => (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new GradiaInputError(null, `${flag} must be a number, got '${v}'`);
  return n;
};
const positiveNumber = (flag: string) => (v: string): number => {
  const n = finiteNumber(flag)(v);
  if (!(n > 0)) throw new GradiaInputError(null, `${flag} must be positive (got ${v})`);
  return n;
};
const nonNegative = (flag: string) => (v: string): number => {
  const n = finiteNumber(flag)(v);
  if (n < 0) throw new GradiaInputError(null, `${flag} must be >= 0 (got ${v})`);
  return n;
};
const oneOf = <T extends string>(flag: string, values: readonly T[]) => (v: string): T => {
  if (!(values as readonly string[]).includes(v)) throw new GradiaInputError(null, `${flag} must be one of ${values.join(', ')} (got '${v}')`);
  return v as T;
};

/**
 * A checkpoint name becomes file names inside --model-dir: it must stay there (no path
 * separator, no `..`) and be visible (no leading dot, which also keeps our temp files apart).
 */
export function checkModelName(v: string): string {
  const bad = (why: string): never => { throw new GradiaInputError(null, `--model-name ${JSON.stringify(v)}: ${why}`); };
  if (v.length === 0) bad('must not be empty');
  if (/[/\\]/.test(v)) bad('must be a plain name, without a path (use --model-dir for the folder)');
  if (v.startsWith('.')) bad('must not start with a dot');
  if (/[\u0000-\u001f\u007f]/.test(v)) bad('must not hold control characters');
  if (Buffer.byteLength(v) > 200) bad('is longer than 200 bytes');
  return v;
}

/** Where the replicas run and how each is threaded: every command that runs a model has these. */
export const RUNTIME_OPTIONS = {
  backend: option<BackendRequest>({ flag: '--backend <name>', help: 'tfjs backend', choices: BACKEND_REQUESTS, parse: oneOf('--backend', BACKEND_REQUESTS), default: 'auto' }),
  gpus: option<string | undefined>({ flag: '--gpus <ids>', help: 'comma-separated GPU ids: one worker process per GPU (CUDA_VISIBLE_DEVICES; default: every GPU when tfjs-node-gpu is installed and no --workers/--processes)', parse: (v) => v, default: undefined }),
  workers: option<number | undefined>({ flag: '--workers <n>', help: 'CPU replicas when no --gpus (default: 1 using every core on oneDNN/libtensorflow, else one per core)', parse: wholeNumber('--workers'), default: undefined }),
  processes: option<boolean>({ flag: '--processes', help: 'run CPU replicas as worker processes instead of threads', default: false }),
  threads: option<number | undefined>({ flag: '--threads <n>', help: 'native compute threads per replica (oneDNN; default: cores / workers)', parse: wholeNumber('--threads'), default: undefined }),
  loaderThreads: option<number>({ flag: '--loader-threads <n>', short: '-j', help: 'image decoding threads per replica (the original -j)', parse: wholeNumber('-j'), default: 2 }),
  decodeCacheMb: option<number | undefined>({ flag: '--decode-cache-mb <n>', help: 'decoded images kept per replica, MiB (least recently used dropped beyond; 0: none)', defaultHelp: `${DEFAULT_DECODE_CACHE_MB}, at most 1/8 of RAM over all replicas`, parse: finiteNumber('--decode-cache-mb'), default: undefined }),
  stepTimeout: option<number>({ flag: '--step-timeout <s>', help: 'seconds before a silent worker fails the step', parse: finiteNumber('--step-timeout'), default: 600 }),
  json: option<boolean>({ flag: '--json', help: 'machine-readable results on the last line of stdout', default: false }),
};

/** The data set and the checkpoint a command reads or writes. */
export const DATA_OPTIONS = {
  dataDir: option<string>({ flag: '--data-dir <dir>', original: '--data_dir', help: 'folder holding gender_data/ and the label JSON files', parse: (v) => v, default: '.' }),
  modelDir: option<string>({ flag: '--model-dir <dir>', original: '--model_dir', help: 'checkpoint folder', parse: (v) => v, default: './model_save' }),
  modelName: option<string>({ flag: '--model-name <name>', original: '--model_name', help: 'checkpoint name (phase 2 and evaluate: the one to load)', parse: checkModelName, default: 'model_out' }),
  testBatch: option<number>({ flag: '--test-batch <n>', original: '--test_batch', help: 'evaluation batch size', parse: wholeNumber('--test-batch', 1), default: 200 }),
};

/** Training: what the run computes (most decide the result) and how it is kept and watched. */
export const TRAIN_OPTIONS = {
  phase: option<1 | 2>({ flag: '--phase <n>', help: 'training phase (--trainWithMap: 2)', choices: ['1', '2'], parse: (v) => Number(oneOf('--phase', ['1', '2'])(v)) as 1 | 2, default: 1, decidesResult: true }),
  arch: option<ArchName | undefined>({ flag: '--arch <name>', help: 'network', defaultHelp: 'resnet50; phase 2: the phase-1 model\'s', choices: ARCH_NAMES, parse: oneOf('--arch', ARCH_NAMES), default: undefined, decidesResult: true, replica: 'arch' }),
  inputSize: option<number | undefined>({ flag: '--input-size <px>', help: 'input size, a multiple of 32', defaultHelp: '224; phase 2: the phase-1 model\'s', parse: (v) => checkInputSize(wholeNumber('--input-size')(v)), default: undefined, decidesResult: true, replica: 'inputSize' }),
  nEpoch: option<number>({ flag: '--n-epoch <n>', original: '--n_epoch', help: 'epochs', parse: wholeNumber('--n-epoch', 1), default: 20, decidesResult: true, resumeMayChange: true }),
  trainBatch: option<number>({ flag: '--train-batch <n>', original: '--train_batch', help: 'global batch size (all workers together)', parse: wholeNumber('--train-batch', 1), default: 256, decidesResult: true }),
  microBatch: option<number>({ flag: '--micro-batch <n>', help: 'per-replica micro-batch (gradient accumulation)', parse: wholeNumber('--micro-batch', 1), default: 16, decidesResult: true, replica: 'microBatch' }),
  lr: option<number>({ flag: '--lr <x>', help: 'Adam learning rate', parse: positiveNumber('--lr'), default: 1e-4, decidesResult: true, replica: 'lr' }),
  seed: option<number>({ flag: '--seed <n>', help: 'seed for initialisation, shuffling and flips', parse: wholeNumber('--seed'), default: 0, decidesResult: true, replica: 'seed' }),
  pretrained: option<string | null>({ flag: '--pretrained <file>', help: 'safetensors weights (torchvision keys) to start phase 1 from', parse: (v) => v, default: null, decidesResult: true }),
  attentionWeight: option<number>({ flag: '--attention-weight <x>', original: '--attention_weight', help: 'scale of the attention loss', parse: finiteNumber('--attention-weight'), default: 1, decidesResult: true, replica: 'attentionWeight' }),
  reasonability: option<boolean>({ flag: '--reasonability', original: '--reasonablity', help: 'drop "Reasonable Accurate" maps (alias --reasonablity)', default: false, decidesResult: true }),
  labelBudget: option<number | null>({ flag: '--label-budget <n>', help: 'phase 2: keep only N human maps per class for the attention loss, drawn with --label-seed and balanced across classes (RES\'s few-shot setting); the other images train without a map', defaultHelp: 'every map', parse: wholeNumber('--label-budget', 1), default: null, decidesResult: true }),
  labelSeed: option<number>({ flag: '--label-seed <n>', help: 'seed of the --label-budget draw', parse: wholeNumber('--label-seed'), default: 0, decidesResult: true }),
  selectOn: option<'val' | 'test'>({ flag: '--select-on <split>', help: 'split that picks the best phase-2 epoch', choices: ['val', 'test'], parse: oneOf('--select-on', ['val', 'test'] as const), default: 'val', decidesResult: true }),
  camMode: option<CamMode>({ flag: '--cam <mode>', help: 'Grad-CAM for the loss', choices: ['closed', 'autodiff'], parse: oneOf('--cam', ['closed', 'autodiff'] as const), default: 'closed', decidesResult: true, replica: 'camMode' }),
  objective: option<ObjectiveName>({ flag: '--objective <name>', help: 'phase-2 explanation objective (docs/objectives.md)', choices: OBJECTIVE_NAMES, parse: oneOf('--objective', OBJECTIVE_NAMES), default: 'gradia', decidesResult: true, replica: 'objective' }),
  imputation: option<ImputationKind>({ flag: '--imputation <kind>', help: 'RES-L\'s imputation network', choices: IMPUTATION_KINDS, parse: oneOf('--imputation', IMPUTATION_KINDS), default: 's1', decidesResult: true, replica: 'imputation' }),
  eta: option<number>({ flag: '--eta <x>', help: 'RES-G/RES-L: slack of the robust term, relu(term - eta)', parse: nonNegative('--eta'), default: 0, decidesResult: true, replica: 'eta' }),
  imputationReg: option<number>({ flag: '--imputation-reg <x>', help: 'RES-L: weight of mean((h - y+)^2) (RES\'s --reg)', parse: nonNegative('--imputation-reg'), default: 0, decidesResult: true, replica: 'imputationReg' }),
  originalFlipBug: option<boolean>({ flag: '--original-flip-bug', help: 'flip images but not their maps, as the original did', default: false, decidesResult: true, replica: 'originalFlipBug' }),
  freezeBn: option<boolean>({ flag: '--freeze-bn', help: 'keep batch-norm layers in eval mode while training', default: false, decidesResult: true, replica: 'freezeBn' }),
  resume: option<boolean>({ flag: '--resume', help: 'continue the interrupted run from its last checkpoint', default: false }),
  maxRestarts: option<number>({ flag: '--max-restarts <n>', help: 'restarts from the last checkpoint after a worker fault', parse: wholeNumber('--max-restarts'), default: 0 }),
  checkpointEvery: option<number>({ flag: '--checkpoint-every <steps>', help: 'steps between resumable checkpoints (0: epoch ends only)', parse: wholeNumber('--checkpoint-every'), default: 20 }),
  checkEvery: option<number>({ flag: '--check-every <steps>', help: 'steps between comparisons of the replicas\' weight checksums (0: never)', parse: wholeNumber('--check-every'), default: 50 }),
  metricsPort: option<number | null>({ flag: '--metrics-port <port>', help: 'serve Prometheus metrics on this port', parse: wholeNumber('--metrics-port'), default: null }),
  metricsHost: option<string>({ flag: '--metrics-host <host>', help: 'address for the metrics server', parse: (v) => v, default: '127.0.0.1' }),
  metricsLingerS: option<number>({ flag: '--metrics-linger <s>', help: 'keep serving metrics this long after the run', parse: finiteNumber('--metrics-linger'), default: 0 }),
};

type ValuesOf<G> = { -readonly [K in keyof G]: G[K] extends OptionDef<infer T> ? T : never };
export type RuntimeOptions = ValuesOf<typeof RUNTIME_OPTIONS>;
export type DataOptions = ValuesOf<typeof DATA_OPTIONS>;
export type TrainOptions = ValuesOf<typeof TRAIN_OPTIONS>;

type AnyGroup = Record<string, OptionDef<unknown>>;

/** Every group's defaults: what a caller (the demo, a test) overrides. */
export function defaultsOf<G extends AnyGroup>(group: G): ValuesOf<G> {
  return Object.fromEntries(Object.entries(group).map(([k, d]) => [k, d.default])) as ValuesOf<G>;
}

/** The original GRADIA.py's flag spellings, as a rename table for the argument rewriter. */
export function originalSpellings(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const group of [RUNTIME_OPTIONS, DATA_OPTIONS, TRAIN_OPTIONS] as AnyGroup[]) {
    for (const d of Object.values(group)) if (d.original) out[d.original] = d.flag.split(' ')[0]!;
  }
  return out;
}

/** The settings that decide a training run's result, in the order checkpoints record them. */
export const RESULT_SETTINGS = Object.entries(TRAIN_OPTIONS as AnyGroup).filter(([, d]) => d.decidesResult).map(([k]) => k) as (keyof TrainOptions)[];

/** The flag of a recorded setting (`microBatch` -> `--micro-batch`); `workers` is the world size. */
export function flagOfSetting(key: string): string {
  if (key === 'workers') return '--workers/--gpus';
  const d = (TRAIN_OPTIONS as AnyGroup)[key];
  return d ? d.flag.split(' ')[0]! : key;
}

/**
 * What a checkpoint records of a run: every result-deciding training option, plus the world
 * size (the number of replicas changes BN statistics and float summation order).
 */
export function recordedSettings(cfg: TrainOptions, world: number): Record<string, unknown> {
  return { ...Object.fromEntries(RESULT_SETTINGS.map((k) => [k, cfg[k]])), workers: world };
}

/** Recorded settings a resumed run changed, as one line each: empty when it may resume. */
export function resumeConflicts(recorded: Record<string, unknown>, now: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(now)) {
    const def = (TRAIN_OPTIONS as AnyGroup)[key];
    // A key missing from an older checkpoint cannot be checked.
    if (def?.resumeMayChange || !(key in recorded)) continue;
    if (recorded[key] !== value) out.push(`${flagOfSetting(key)} ${JSON.stringify(recorded[key])}, this run has ${JSON.stringify(value)}`);
  }
  return out;
}

/** The training options every replica needs, under their ReplicaConfig names. */
export function replicaSettings(cfg: TrainOptions & { arch: ArchName; inputSize: number }): Pick<ReplicaConfig, ReplicaField> {
  const out: Record<string, unknown> = {};
  for (const [k, d] of Object.entries(TRAIN_OPTIONS as AnyGroup)) if (d.replica) out[d.replica] = cfg[k as keyof TrainOptions];
  return out as Pick<ReplicaConfig, ReplicaField>;
}
