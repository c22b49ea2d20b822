import { Command, Option } from 'commander';
import { normaliseArgv } from './argv.js';
import { GradiaInputError } from '../util/errors.js';
import { MAKE_DATA_DEFAULTS } from '../data/generator.js';
import { DEFAULT_DECODE_CACHE_MB } from '../data/pipeline.js';

const BACKENDS = ['auto', 'tensorflow', 'onednn', 'wasm', 'cpu'];
const ARCHS = ['resnet18', 'resnet34', 'resnet50', 'tiny18', 'tiny50'];

const int = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new GradiaInputError(null, `${name} must be a whole number >= 0, got '${v}'`);
  return n;
};
const num = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new GradiaInputError(null, `${name} must be a number, got '${v}'`);
  return n;
};

function addRuntimeOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(BACKENDS).default('auto'))
    .option('--gpus <ids>', 'comma-separated GPU ids: one worker process per GPU (CUDA_VISIBLE_DEVICES; default: every GPU when tfjs-node-gpu is installed and no --workers/--processes)')
    .option('--workers <n>', 'CPU replicas when no --gpus (default: 1 using every core on oneDNN/libtensorflow, else one per core)', int('--workers'))
    .option('--processes', 'run CPU replicas as worker processes instead of threads')
    .option('--threads <n>', 'native compute threads per replica (oneDNN; default: cores / workers)', int('--threads'))
    .option('-j, --loader-threads <n>', 'image decoding threads per replica (the original -j)', int('-j'), 2)
    .option('--decode-cache-mb <n>', `decoded images kept per replica, MiB (least recently used dropped beyond; 0: none; default ${DEFAULT_DECODE_CACHE_MB}, at most 1/8 of RAM over all replicas)`, num('--decode-cache-mb'))
    .option('--step-timeout <s>', 'seconds before a silent worker fails the step', num('--step-timeout'), 600)
    .option('--json', 'machine-readable results on the last line of stdout');
}

function addDataOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'folder holding gender_data/ and the label JSON files', '.')
    .option('--model-dir <dir>', 'checkpoint folder', './model_save')
    .option('--model-name <name>', 'checkpoint name (phase 2 and evaluate: the one to load)', 'model_out')
    .option('--test-batch <n>', 'evaluation batch size', int('--test-batch'), 200);
}

export function buildProgram(): Command {
  const program = new Command('gradia-dist')
    .description('GRADIA attention-aligned training, data-parallel on tfjs')
    .showHelpAfterError()
    .exitOverride();

  addRuntimeOptions(addDataOptions(program.command('train').description('phase 1 (supervised) or phase 2 (attention-aligned) training')))
    .addOption(new Option('--phase <n>', 'training phase').choices(['1', '2']).default('1'))
    .addOption(new Option('--arch <name>', 'network (default: resnet50; phase 2: the phase-1 model\'s)').choices(ARCHS))
    .option('--input-size <px>', 'input size, a multiple of 32 (default: 224; phase 2: the phase-1 model\'s)', int('--input-size'))
    .option('--n-epoch <n>', 'epochs', int('--n-epoch'), 20)
    .option('--train-batch <n>', 'global batch size (all workers together)', int('--train-batch'), 256)
    .option('--micro-batch <n>', 'per-replica micro-batch (gradient accumulation)', int('--micro-batch'), 16)
    .option('--lr <x>', 'Adam learning rate', num('--lr'), 1e-4)
    .option('--seed <n>', 'seed for initialisation, shuffling and flips', int('--seed'), 0)
    .option('--pretrained <file>', 'safetensors weights (torchvision keys) to start phase 1 from')
    .option('--attention-weight <x>', 'scale of the attention loss', num('--attention-weight'), 1)
    .option('--reasonability', 'drop "Reasonable Accurate" maps (alias --reasonablity)')
    .addOption(new Option('--select-on <split>', 'split that picks the best phase-2 epoch').choices(['val', 'test']).default('val'))
    .addOption(new Option('--cam <mode>', 'Grad-CAM for the loss').choices(['closed', 'autodiff']).default('closed'))
    .option('--original-flip-bug', 'flip images but not their maps, as the original did')
    .option('--freeze-bn', 'keep batch-norm layers in eval mode while training')
    .option('--resume', 'continue the interrupted run from its last checkpoint')
    .option('--max-restarts <n>', 'restarts from the last checkpoint after a worker fault', int('--max-restarts'), 0)
    .option('--checkpoint-every <steps>', 'steps between resumable checkpoints (0: epoch ends only)', int('--checkpoint-every'), 20)
    .option('--metrics-port <port>', 'serve Prometheus metrics on this port', int('--metrics-port'))
    .option('--metrics-host <host>', 'address for the metrics server', '127.0.0.1')
    .option('--metrics-linger <s>', 'keep serving metrics this long after the run', num('--metrics-linger'), 0)
    .action(async (opts) => {
      const { trainCommand } = await import('./train_command.js');
      await trainCommand(opts);
    });

  addRuntimeOptions(addDataOptions(program.command('evaluate').description('accuracy, IoU and Grad-CAM pictures of a checkpoint')))
    .addOption(new Option('--split <split>', 'split to evaluate').choices(['test', 'val']).default('test'))
    .option('--out-dir <dir>', 'where IOU.json, misclassified.json and attention/ go (default results/<model-name>)')
    .option('--human-assessment <file>', 'human judgements [{img, label}] for the reasonability matrix')
    .option('--grid-samples <n>', 'images in the summary grid', int('--grid-samples'), 16)
    .action(async (opts) => {
      const { evaluateCommand } = await import('./evaluate_command.js');
      await evaluateCommand(opts);
    });

  program.command('predict')
    .description('logits, class and raw Grad-CAM of images')
    .argument('<images...>')
    .addOption(new Option('--arch <name>', 'network').choices(ARCHS).default('resnet50'))
    .requiredOption('--weights <file>', 'safetensors weights')
    .option('--num-classes <n>', 'classes of the fc layer', int('--num-classes'))
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(BACKENDS).default('auto'))
    .option('--json', 'JSON output')
    .action(async (images: string[], opts) => {
      const { predictCommand } = await import('./predict.js');
      await predictCommand({ ...opts, images, json: Boolean(opts.json) });
    });

  program.command('make-data')
    .description('generate a small data set in the original layout where attention matters')
    .requiredOption('--out <dir>', 'output folder')
    .option('--seed <n>', 'seed', int('--seed'), MAKE_DATA_DEFAULTS.seed)
    .option('--train <n>', 'training images', int('--train'), MAKE_DATA_DEFAULTS.train)
    .option('--val <n>', 'validation images', int('--val'), MAKE_DATA_DEFAULTS.val)
    .option('--test <n>', 'test images', int('--test'), MAKE_DATA_DEFAULTS.test)
    .option('--size <px>', 'image size (multiple of 32; 96+ so the attention grid is at least 3x3)', int('--size'), MAKE_DATA_DEFAULTS.size)
    .option('--spurious <p>', 'probability that the context cue agrees with the class in train/val', num('--spurious'), MAKE_DATA_DEFAULTS.spurious)
    .action(async (opts) => {
      const { makeDataCommand } = await import('./make_data.js');
      await makeDataCommand(opts);
    });

  addRuntimeOptions(addDataOptions(program.command('assess').description('stand-in human judge: writes reasonablity_val.json')))
    .option('--tau <x>', 'IoU above which attention counts as reasonable', num('--tau'), 0.25)
    .option('--human <file>', 'human judgements [{img, label: reasonable|unreasonable}] instead of the IoU rule')
    .action(async (opts) => {
      const { assessCommand } = await import('./assess_command.js');
      await assessCommand(opts);
    });

  program.command('demo')
    .description('the whole GRADIA loop on a generated data set, with a before/after table')
    .option('--seed <n>', 'seed', int('--seed'), 0)
    .option('--dir <dir>', 'working folder', 'data/demo')
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(BACKENDS).default('auto'))
    .option('--workers <n>', 'CPU replicas (default as for train)', int('--workers'))
    .option('--json', 'machine-readable results on the last line of stdout')
    .action(async (opts) => {
      const { demoCommand } = await import('./demo.js');
      await demoCommand(opts);
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(normaliseArgv(argv), { from: 'user' });
    return 0;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : (e.exitCode ?? 2);
    }
    if (err instanceof GradiaInputError) {
      process.stderr.write(`gradia-dist: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`gradia-dist: ${e.message ?? String(err)}\n`);
    if (process.env.GRADIA_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    return 1;
  }
}

