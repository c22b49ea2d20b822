// `gradia-dist compare-objectives`: every explanation objective on the generated data set
// (with negative labels on the context patch), several seeds, one table of test accuracy,
// IoU and RES's explanation F1 with means and spreads. Per seed: make-data, phase 1, assess
// (the stand-in judge), then phase 2 from the same phase-1 model once per objective, each
// in its own model dir, and the best phase-2 checkpoint evaluated on the test split.
import fs from 'node:fs';
import path from 'node:path';
import type { BackendRequest } from '../backend/names.js';
import { evaluateCheckpoint } from '../coordinator/checkpoint_cluster.js';
import { runTraining, type RuntimeConfig } from '../coordinator/train.js';
import { DATA_OPTIONS, TRAIN_OPTIONS, defaultsOf } from '../config/run_spec.js';
import { generateDataSet } from '../data/generator.js';
import { OBJECTIVE_NAMES, type ImputationKind, type ObjectiveName } from '../model/objectives/types.js';
import { GradiaInputError } from '../util/errors.js';
import { assessCheckpoint } from './assess_command.js';
import { DEMO_RECIPE } from './demo.js';
import { ProgressDisplay, progressObserver } from './progress.js';
import { printJsonLine, runtimeFrom } from './runtime_options.js';

export interface CompareFlags {
  seeds: number;
  dir: string;
  train: number;
  val: number;
  test: number;
  size: number;
  p1Epochs: number;
  p2Epochs: number;
  objectives?: string;
  imputation: ImputationKind;
  eta: number;
  backend: BackendRequest;
  workers?: number;
  quiet?: boolean;
  json?: boolean;
}

export interface ObjectiveScore {
  seed: number; accuracy: number; iou: number | null; f1: number | null; seconds: number;
  /** the last phase-2 epoch's mean attention loss (the objective's own loss) */
  attLoss: number;
}

/** The training recipe (the demo's: tiny18, lr 1e-3, attention weight 2), sized by the flags. */
const RECIPE = {
  arch: DEMO_RECIPE.arch, lr: DEMO_RECIPE.phase1.lr, attentionWeight: DEMO_RECIPE.phase2.attentionWeight, trainBatch: DEMO_RECIPE.trainBatch,
  microBatch: DEMO_RECIPE.microBatch, tau: DEMO_RECIPE.tau, spurious: DEMO_RECIPE.data.spurious,
} as const;

export function parseObjectives(list: string | undefined): ObjectiveName[] {
  if (!list) return [...OBJECTIVE_NAMES];
  const out = list.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = out.find((o) => !(OBJECTIVE_NAMES as readonly string[]).includes(o));
  if (bad !== undefined || out.length === 0) throw new GradiaInputError(null, `--objectives must list some of ${OBJECTIVE_NAMES.join(', ')} (got '${list}')`);
  return out as ObjectiveName[];
}

/** mean and sample standard deviation (0 for one value); null when no value is there. */
export function meanSd(xs: (number | null)[]): { mean: number; sd: number; n: number } | null {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  if (v.length === 0) return null;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, sd, n: v.length };
}

function copyCheckpoint(fromDir: string, toDir: string, name: string): void {
  fs.mkdirSync(toDir, { recursive: true });
  for (const ext of ['.safetensors', '.json']) fs.copyFileSync(path.join(fromDir, name + ext), path.join(toDir, name + ext));
}

/** The table as Markdown: one row per objective (and phase 1's baseline), mean +- sd over the seeds. */
export function compareTable(rows: { objective: string; scores: ObjectiveScore[] }[]): string {
  const fmt = (s: ReturnType<typeof meanSd>, pct: boolean) => (s === null ? 'n/a' : pct ? `${(100 * s.mean).toFixed(1)}% ± ${(100 * s.sd).toFixed(1)}` : `${s.mean.toFixed(3)} ± ${s.sd.toFixed(3)}`);
  const lines = ['| objective | test accuracy | test IoU | test explanation F1 |', '| --- | --- | --- | --- |'];
  for (const r of rows) {
    lines.push(`| ${r.objective} | ${fmt(meanSd(r.scores.map((s) => s.accuracy)), true)} | ${fmt(meanSd(r.scores.map((s) => s.iou)), false)} | ${fmt(meanSd(r.scores.map((s) => s.f1)), false)} |`);
  }
  return lines.join('\n');
}

export async function compareObjectivesCommand(f: CompareFlags): Promise<void> {
  const objectives = parseObjectives(f.objectives);
  if (!Number.isInteger(f.seeds) || f.seeds < 1) throw new GradiaInputError(null, `--seeds must be a whole number >= 1 (got ${f.seeds})`);
  const runtime: RuntimeConfig = await runtimeFrom({ backend: f.backend, workers: f.workers, loaderThreads: 1, stepTimeout: 600 });
  const started = Date.now();
  const observers = f.quiet ? [] : [progressObserver(new ProgressDisplay())];
  const rows = objectives.map((objective) => ({ objective, scores: [] as ObjectiveScore[] }));
  // the phase-1 model itself: what the explanation objectives start from
  const baseline = { objective: 'none (phase 1)', scores: [] as ObjectiveScore[] };
  for (let seed = 0; seed < f.seeds; seed++) {
    const dataDir = path.join(f.dir, `seed${seed}`);
    const phase1Dir = path.join(dataDir, 'model_save');
    console.log(`compare-objectives: seed ${seed}: data set in ${dataDir}`);
    await generateDataSet({ out: dataDir, seed, train: f.train, val: f.val, test: f.test, size: f.size, spurious: RECIPE.spurious, negatives: true });
    const common = {
      ...defaultsOf(DATA_OPTIONS), ...defaultsOf(TRAIN_OPTIONS), ...runtime, dataDir, arch: RECIPE.arch, inputSize: f.size,
      trainBatch: RECIPE.trainBatch, microBatch: RECIPE.microBatch, testBatch: 64, seed, lr: RECIPE.lr, checkpointEvery: 0, observers,
    };
    console.log(`compare-objectives: seed ${seed}: phase 1`);
    await runTraining({ ...common, modelDir: phase1Dir, phase: 1, attentionWeight: 0, nEpoch: f.p1Epochs });
    await assessCheckpoint(runtime, { dataDir, modelDir: phase1Dir, modelName: 'model_out', testBatch: 64, tau: RECIPE.tau });
    const p1 = (await evaluateCheckpoint({ runtime, dataDir, modelDir: phase1Dir, name: 'model_out', split: 'test', testBatch: 64 })).summary;
    baseline.scores.push({ seed, accuracy: p1.accuracy, iou: p1.iou, f1: p1.explanation?.f1 ?? null, seconds: 0, attLoss: 0 });
    for (const row of rows) {
      const modelDir = path.join(dataDir, `p2-${row.objective}`);
      fs.rmSync(modelDir, { recursive: true, force: true });
      copyCheckpoint(phase1Dir, modelDir, 'model_out');
      console.log(`compare-objectives: seed ${seed}: phase 2 with --objective ${row.objective}`);
      const t0 = Date.now();
      const trained = await runTraining({
        ...common, modelDir, phase: 2, nEpoch: f.p2Epochs, attentionWeight: RECIPE.attentionWeight,
        objective: row.objective, imputation: f.imputation, eta: f.eta,
      });
      const { summary } = await evaluateCheckpoint({ runtime, dataDir, modelDir, name: 'model_out_best', split: 'test', testBatch: 64 });
      const score: ObjectiveScore = { seed, accuracy: summary.accuracy, iou: summary.iou, f1: summary.explanation?.f1 ?? null, seconds: (Date.now() - t0) / 1000,
        attLoss: trained.epochs[trained.epochs.length - 1]?.attLoss ?? 0,
      };
      row.scores.push(score);
      console.log(`compare-objectives: seed ${seed} ${row.objective}: test accuracy ${(100 * score.accuracy).toFixed(1)}%, IoU ${score.iou?.toFixed(3) ?? 'n/a'}, F1 ${score.f1?.toFixed(3) ?? 'n/a'}`);
    }
  }
  const seconds = (Date.now() - started) / 1000;
  console.log('');
  console.log(compareTable([baseline, ...rows]));
  console.log('');
  console.log(`(${f.seeds} seed${f.seeds === 1 ? '' : 's'}, mean ± sd; generated set: ${f.train} train / ${f.val} val / ${f.test} test images of ${f.size} px with negative labels; `
    + `tiny18, phase 1 ${f.p1Epochs} epochs, phase 2 ${f.p2Epochs} epochs; --imputation ${f.imputation} --eta ${f.eta}; ${seconds.toFixed(0)} s)`);
  if (f.json) printJsonLine({ command: 'compare-objectives', seconds, settings: { ...f, objectives }, phase1: baseline.scores, results: rows });
}
