// The run spec is the one place options are defined: the CLI's options, the recorded
// settings and the resume check all follow from it.
import { describe, expect, it } from 'vitest';
import { buildProgram, valuesOf } from '../src/cli/program.js';
import { normaliseArgv } from '../src/cli/argv.js';
import { DATA_OPTIONS, RESULT_SETTINGS, RUNTIME_OPTIONS, TRAIN_OPTIONS, defaultsOf, recordedSettings, resumeConflicts, type OptionDef } from '../src/config/run_spec.js';
import { CheckpointPolicy } from '../src/coordinator/checkpoint_policy.js';

/** Parses `train ARGS` with the real program, returning the spec's values instead of training. */
async function parseTrain(args: string[]) {
  const program = buildProgram();
  const train = program.commands.find((c) => c.name() === 'train')!;
  let parsed: Record<string, unknown> = {};
  train.action((opts: Record<string, unknown>) => { parsed = opts; });
  await program.parseAsync(normaliseArgv(['train', ...args]), { from: 'user' });
  return { ...valuesOf(RUNTIME_OPTIONS, parsed), ...valuesOf(DATA_OPTIONS, parsed), ...valuesOf(TRAIN_OPTIONS, parsed) };
}

const flagName = (d: OptionDef<unknown>) => d.flag.split(' ')[0]!;

describe('run spec', () => {
  it('gives train every option of every group, with the spec defaults', async () => {
    const v = await parseTrain([]);
    expect(v).toEqual({ ...defaultsOf(RUNTIME_OPTIONS), ...defaultsOf(DATA_OPTIONS), ...defaultsOf(TRAIN_OPTIONS) });
    const help = buildProgram().commands.find((c) => c.name() === 'train')!.helpInformation();
    for (const d of Object.values({ ...RUNTIME_OPTIONS, ...DATA_OPTIONS, ...TRAIN_OPTIONS }) as OptionDef<unknown>[]) expect(help).toContain(flagName(d));
  });

  it('parses each value flag into its typed value (and the original spellings too)', async () => {
    const v = await parseTrain([
      '--phase', '2', '--arch', 'tiny50', '--input-size', '96', '--n_epoch', '3', '--micro-batch', '4', '--lr', '0.5', '--cam', 'autodiff',
      '--reasonablity', '--freeze-bn', '--metrics-linger', '2.5', '--check-every', '7', '-j', '3', '--model_name', 'm1',
    ]);
    expect(v).toMatchObject({ phase: 2, arch: 'tiny50', inputSize: 96, nEpoch: 3, microBatch: 4, lr: 0.5, camMode: 'autodiff', reasonability: true, freezeBn: true, metricsLingerS: 2.5, checkEvery: 7, loaderThreads: 3, modelName: 'm1' });
  });

  it('--label-budget N --label-seed S: null (every map) and seed 0 by default, N >= 1', async () => {
    expect(await parseTrain([])).toMatchObject({ labelBudget: null, labelSeed: 0 });
    expect(await parseTrain(['--label-budget', '25', '--label-seed', '3'])).toMatchObject({ labelBudget: 25, labelSeed: 3 });
    await expect(parseTrain(['--label-budget', '0'])).rejects.toThrow("--label-budget must be a whole number >= 1, got '0'");
  });

  it('refuses a bad value with one line naming the flag', async () => {
    await expect(parseTrain(['--input-size', '100'])).rejects.toThrow('--input-size must be a positive multiple of 32 (got 100)');
    await expect(parseTrain(['--lr', '0'])).rejects.toThrow('--lr must be positive');
    await expect(parseTrain(['--micro-batch', '0'])).rejects.toThrow("--micro-batch must be a whole number >= 1, got '0'");
  });

  it('records exactly the result-deciding settings and the world size; resume may change only --n-epoch', () => {
    const cfg = { ...defaultsOf(TRAIN_OPTIONS), arch: 'tiny18' as const, inputSize: 64 };
    const recorded = recordedSettings(cfg, 2);
    expect(Object.keys(recorded).sort()).toEqual([...RESULT_SETTINGS, 'workers'].sort());
    // the settings checkpoints have always recorded (older checkpoints stay resumable)
    expect(Object.keys(recorded).sort()).toEqual(['arch', 'attentionWeight', 'camMode', 'freezeBn', 'inputSize', 'lr', 'microBatch', 'nEpoch', 'originalFlipBug', 'phase', 'pretrained', 'reasonability', 'seed', 'selectOn', 'trainBatch', 'workers',
      // issue 15: the label budget, the explanation objective and RES's settings
      'labelBudget', 'labelSeed', 'objective', 'imputation', 'eta', 'imputationReg'].sort());
    expect(resumeConflicts(recorded, recorded)).toEqual([]);
    expect(resumeConflicts(recorded, { ...recorded, nEpoch: 40 })).toEqual([]);
    for (const key of Object.keys(recorded).filter((k) => k !== 'nEpoch')) {
      const changed = { ...recorded, [key]: typeof recorded[key] === 'number' ? (recorded[key] as number) + 1 : `${String(recorded[key])}x` };
      expect(resumeConflicts(recorded, changed), key).toHaveLength(1);
    }
    expect(resumeConflicts({ ...recorded, workers: 2 }, { ...recorded, workers: 1 })[0]).toBe('--workers/--gpus 2, this run has 1');
    // a setting an older checkpoint did not record is not held against it
    const { freezeBn: _, ...older } = recorded;
    expect(resumeConflicts(older, { ...recorded, freezeBn: true })).toEqual([]);
  });
});

describe('checkpoint policy', () => {
  const record = (epoch: number, accuracy: number, iou: number | null) => ({ epoch, taskLoss: 1, attLoss: 0, accuracy, iou, seconds: 1, images: 10 });

  it('phase 1: best by accuracy under the model name, _last after it', () => {
    const p = new CheckpointPolicy(1, 'm', 5);
    expect(p.endOfEpoch(record(1, 0.5, 0.9)).map((w) => w.name)).toEqual(['m', 'm_last']);
    expect(p.endOfEpoch(record(2, 0.4, 0.99)).map((w) => w.name)).toEqual(['m_last']);
    expect(p.endOfEpoch(record(3, 0.6, 0.1)).map((w) => [w.name, w.best?.epoch])).toEqual([['m', 3], ['m_last', 3]]);
  });

  it('phase 2: every epoch as m_<epoch> (recording the best before it), best by IoU as m_best', () => {
    const p = new CheckpointPolicy(2, 'm', 0);
    expect(p.endOfEpoch(record(1, 0.9, 0.2)).map((w) => [w.name, w.best?.epoch ?? null, w.resumable])).toEqual([['m_1', null, false], ['m_best', 1, false], ['m_p2_last', 1, true]]);
    expect(p.endOfEpoch(record(2, 0.9, 0.1)).map((w) => w.name)).toEqual(['m_2', 'm_p2_last']);
  });

  it('a mid-epoch _last every N steps, never on the epoch\'s last batch (the epoch end writes one)', () => {
    const p = new CheckpointPolicy(1, 'm', 3);
    expect([1, 2, 3, 4].map((step) => p.midEpochDue(step, 0, step - 1, 10))).toEqual([false, false, true, true]);
    expect(p.midEpochDue(9, 0, 9, 10)).toBe(false);
    expect(new CheckpointPolicy(1, 'm', 0).midEpochDue(100, 0, 5, 10)).toBe(false);
  });
});
