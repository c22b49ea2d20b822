// `gradia-dist demo`: the whole GRADIA loop on a generated data set, sized to finish in a
// few minutes on 2 CPU cores: make-data, phase 1, assess, phase 2, evaluate both models on
// the test split, and a before/after table.
import path from 'node:path';
import type { BackendRequest } from '../backend/names.js';
import { generateDataSet } from '../data/generator.js';
import { evaluateCheckpoint } from '../coordinator/checkpoint_cluster.js';
import { writeEvaluationReport } from '../report/eval_report.js';
import type { EvaluationSummary } from '../coordinator/evaluation.js';
import { runTraining, type RuntimeConfig } from '../coordinator/train.js';
import { DATA_OPTIONS, TRAIN_OPTIONS, defaultsOf } from '../config/run_spec.js';
import { ProgressDisplay, progressObserver } from './progress.js';
import { assessCheckpoint } from './assess_command.js';
import { printJsonLine, runtimeFrom } from './runtime_options.js';

export interface DemoFlags { seed: number; dir: string; backend: BackendRequest; workers?: number; json?: boolean }

/** The demo's recipe: small images, a tiny ResNet, a strong spurious cue in train/val. */
export const DEMO_RECIPE = {
  data: { train: 400, val: 100, test: 200, size: 96, spurious: 0.95 },
  arch: 'tiny18',
  inputSize: 96,
  phase1: { nEpoch: 6, lr: 1e-3 },
  phase2: { nEpoch: 10, lr: 1e-3, attentionWeight: 2 },
  trainBatch: 32,
  microBatch: 32,
  tau: 0.25,
} as const;

async function evaluateOnTest(runtime: RuntimeConfig, dataDir: string, modelDir: string, name: string, outDir: string): Promise<EvaluationSummary & { grid: string | null }> {
  const { evalSet, results, summary, grid } = await evaluateCheckpoint({ runtime, dataDir, modelDir, name, split: 'test', testBatch: 64 });
  const paths = await writeEvaluationReport({ outDir, samples: evalSet.samples, results, summary, grid, gridSamples: 8, extra: { model: name, split: 'test' } });
  return { ...summary, grid: paths.summaryGrid };
}

export async function demoCommand(f: DemoFlags): Promise<void> {
  const R = DEMO_RECIPE;
  const dataDir = path.join(f.dir, `seed${f.seed}`);
  const modelDir = path.join(dataDir, 'model_save');
  const runtime: RuntimeConfig = await runtimeFrom({ backend: f.backend, workers: f.workers, loaderThreads: 1, stepTimeout: 600 });
  const started = Date.now();
  console.log(`demo: generating the data set in ${dataDir}`);
  await generateDataSet({ out: dataDir, seed: f.seed, ...R.data });
  // The spec's defaults, overridden by the recipe.
  const common = {
    ...defaultsOf(DATA_OPTIONS), ...defaultsOf(TRAIN_OPTIONS), ...runtime, dataDir, modelDir, arch: R.arch, inputSize: R.inputSize,
    trainBatch: R.trainBatch, microBatch: R.microBatch, testBatch: 64, seed: f.seed, checkpointEvery: 0,
    observers: [progressObserver(new ProgressDisplay())],
  };
  console.log('demo: phase 1 (supervised)');
  await runTraining({ ...common, phase: 1, attentionWeight: 0, ...R.phase1 });
  console.log('demo: assessing the phase-1 model (stand-in for the human judges)');
  await assessCheckpoint(runtime, { dataDir, modelDir, modelName: 'model_out', testBatch: 64, tau: R.tau });
  console.log(`demo: (people judge and redraw instead with: gradia-dist review --data-dir ${dataDir} --model-dir ${modelDir} --model-name model_out)`);
  console.log('demo: phase 2 (attention-aligned)');
  await runTraining({ ...common, phase: 2, ...R.phase2 });
  console.log('demo: evaluating both models on the test split');
  const before = await evaluateOnTest(runtime, dataDir, modelDir, 'model_out', path.join(dataDir, 'results', 'phase1'));
  const after = await evaluateOnTest(runtime, dataDir, modelDir, 'model_out_best', path.join(dataDir, 'results', 'phase2'));
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const iou = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));
  console.log('');
  console.log(`| seed ${f.seed}  | test accuracy | test IoU |`);
  console.log('|----------|---------------|----------|');
  console.log(`| phase 1  | ${pct(before.accuracy).padStart(13)} | ${iou(before.iou).padStart(8)} |`);
  console.log(`| phase 2  | ${pct(after.accuracy).padStart(13)} | ${iou(after.iou).padStart(8)} |`);
  console.log('');
  console.log(`pictures: ${before.grid} (phase 1) and ${after.grid} (phase 2); per-image overlays under ${path.join(dataDir, 'results')}/*/attention/`);
  console.log(`demo finished in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (f.json) {
    printJsonLine({
      command: 'demo', seed: f.seed, dataDir, seconds: (Date.now() - started) / 1000,
      phase1: { accuracy: before.accuracy, iou: before.iou, grid: before.grid },
      phase2: { accuracy: after.accuracy, iou: after.iou, grid: after.grid },
    });
  }
}
