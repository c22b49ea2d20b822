import { Command, Option } from 'commander';
import { normaliseArgv } from './argv.js';
import { GradiaInputError } from '../util/errors.js';
import { MAKE_DATA_DEFAULTS } from '../data/generator.js';
import { ARCH_NAMES } from '../model/types.js';
import { IMPUTATION_KINDS } from '../model/objectives/types.js';
import { BACKEND_REQUESTS } from '../backend/names.js';
import { DATA_OPTIONS, RUNTIME_OPTIONS, TRAIN_OPTIONS, finiteNumber, wholeNumber, type OptionDef } from '../config/run_spec.js';

const int = (name: string) => wholeNumber(name);
const num = (name: string) => finiteNumber(name);

type Group = Record<string, OptionDef<unknown>>;

/** Adds a run-spec group's options to a command (help shows each default). */
function addGroup(cmd: Command, group: Group): Command {
  for (const d of Object.values(group)) {
    const o = new Option(d.short ? `${d.short}, ${d.flag}` : d.flag, d.defaultHelp ? `${d.help} (default: ${d.defaultHelp})` : d.help);
    if (d.choices) o.choices(d.choices);
    if (d.parse) o.argParser((text: string) => d.parse!(text));
    // (commander shows this default in --help; valuesOf applies the spec's own)
    if (!d.defaultHelp && d.default !== undefined && d.default !== null && d.default !== false) o.default(d.default);
    cmd.addOption(o);
  }
  return cmd;
}

/** Reads a group's values out of commander's parsed options (spec keys, spec defaults). */
export function valuesOf<G extends Group>(group: G, parsed: Record<string, unknown>): { -readonly [K in keyof G]: G[K] extends OptionDef<infer T> ? T : never } {
  const out: Record<string, unknown> = {};
  for (const [key, d] of Object.entries(group)) {
    const v = parsed[new Option(d.flag).attributeName()];
    out[key] = v === undefined ? d.default : v;
  }
  return out as { -readonly [K in keyof G]: G[K] extends OptionDef<infer T> ? T : never };
}

const addRuntimeOptions = (cmd: Command): Command => addGroup(cmd, RUNTIME_OPTIONS);
const addDataOptions = (cmd: Command): Command => addGroup(cmd, DATA_OPTIONS);

export function buildProgram(): Command {
  const program = new Command('gradia-dist')
    .description('GRADIA attention-aligned training, data-parallel on tfjs')
    .showHelpAfterError()
    .exitOverride();

  addGroup(addRuntimeOptions(addDataOptions(program.command('train').description('phase 1 (supervised) or phase 2 (attention-aligned) training'))), TRAIN_OPTIONS)
    .action(async (opts: Record<string, unknown>) => {
      const { trainCommand } = await import('./train_command.js');
      await trainCommand({ ...valuesOf(RUNTIME_OPTIONS, opts), ...valuesOf(DATA_OPTIONS, opts), ...valuesOf(TRAIN_OPTIONS, opts) });
    });

  addRuntimeOptions(addDataOptions(program.command('evaluate').description('accuracy, IoU and Grad-CAM pictures of a checkpoint')))
    .addOption(new Option('--split <split>', 'split to evaluate').choices(['test', 'val']).default('test'))
    .option('--out-dir <dir>', 'where IOU.json, misclassified.json and attention/ go (default results/<model-name>)')
    .option('--human-assessment <file>', 'human judgements [{img, label}] for the reasonability matrix')
    .option('--grid-samples <n>', 'images in the summary grid', int('--grid-samples'), 16)
    .action(async (opts) => {
      const { evaluateCommand } = await import('./evaluate_command.js');
      await evaluateCommand({ ...opts, ...valuesOf(RUNTIME_OPTIONS, opts), ...valuesOf(DATA_OPTIONS, opts) });
    });

  program.command('predict')
    .description('logits, class and raw Grad-CAM of images')
    .argument('<images...>')
    .addOption(new Option('--arch <name>', 'network (default: the checkpoint sidecar\'s beside --weights, else resnet50)').choices(ARCH_NAMES))
    .requiredOption('--weights <file>', 'safetensors weights')
    .option('--num-classes <n>', 'classes of the fc layer', int('--num-classes'))
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(BACKEND_REQUESTS).default('auto'))
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
    .option('--negative-maps', 'mark the context patch -1 ("do not look here") in the human maps, for RES\'s objectives')
    .action(async ({ negativeMaps, ...opts }) => {
      const { makeDataCommand } = await import('./make_data.js');
      await makeDataCommand({ ...opts, negatives: Boolean(negativeMaps) });
    });

  addRuntimeOptions(addDataOptions(program.command('assess').description('stand-in human judge: writes reasonablity_val.json')))
    .option('--tau <x>', 'IoU above which attention counts as reasonable', num('--tau'), 0.25)
    .option('--human <file>', 'human judgements [{img, label: reasonable|unreasonable}] instead of the IoU rule')
    .action(async (opts) => {
      const { assessCommand } = await import('./assess_command.js');
      await assessCommand({ ...opts, ...valuesOf(RUNTIME_OPTIONS, opts), ...valuesOf(DATA_OPTIONS, opts) });
    });

  // review: the judging server (review_command.ts) and its tools (--publish, --agreement, --study: review_tools_command.ts)
  addRuntimeOptions(addDataOptions(program.command('review').description('judge and redraw the model\'s attention in the browser (prints a URL with a token); publish, agreement, blind study')))
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0: any free port)', int('--port'), 8765)
    .option('--annotator <name>', 'who is judging (names the journal file)', 'annotator')
    .option('--publish', 'no server: merge every annotator\'s journal and write the phase-2 label files')
    .option('--merge <rule>', 'with --publish: majority (default; ties -> unreasonable) or adjudicator=NAME')
    .option('--agreement', 'no server: agreement between annotators (kappas, map IoU)')
    .option('--study', 'blind comparison of several models\' attention (with --models)')
    .option('--models <list>', 'with --study: checkpoint names, comma-separated')
    .addOption(new Option('--split <split>', 'with --study: images to compare (default test)').choices(['test', 'val']))
    .option('--export', 'with --study: write the results CSV/JSON and exit')
    .action(async (opts) => {
      const flags = { ...opts, ...valuesOf(RUNTIME_OPTIONS, opts), ...valuesOf(DATA_OPTIONS, opts) };
      const tools = await import('./review_tools_command.js');
      if (tools.isReviewTool(flags)) return tools.reviewToolCommand(flags);
      const { reviewCommand } = await import('./review_command.js');
      await reviewCommand(flags);
    });

  program.command('demo')
    .description('the whole GRADIA loop on a generated data set, with a before/after table')
    .option('--seed <n>', 'seed', int('--seed'), 0)
    .option('--dir <dir>', 'working folder', 'data/demo')
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(BACKEND_REQUESTS).default('auto'))
    .option('--workers <n>', 'CPU replicas (default as for train)', int('--workers'))
    .option('--json', 'machine-readable results on the last line of stdout')
    .action(async (opts) => {
      const { demoCommand } = await import('./demo.js');
      await demoCommand(opts);
    });

  program.command('compare-objectives')
    .description('every explanation objective on the generated set (negative labels), several seeds: test accuracy, IoU and F1')
    .option('--seeds <n>', 'seeds (0 .. n-1)', int('--seeds'), 3)
    .option('--dir <dir>', 'working folder', 'data/compare')
    .option('--train <n>', 'training images', int('--train'), 200)
    .option('--val <n>', 'validation images (the ones with maps in phase 2)', int('--val'), 60)
    .option('--test <n>', 'test images', int('--test'), 100)
    .option('--size <px>', 'image and input size (96+: grid 3x3)', int('--size'), 96)
    .option('--p1-epochs <n>', 'phase-1 epochs', int('--p1-epochs'), 4)
    .option('--p2-epochs <n>', 'phase-2 epochs', int('--p2-epochs'), 6)
    .option('--objectives <list>', 'comma-separated subset (default: all)')
    .addOption(new Option('--imputation <kind>', 'RES-L\'s imputation network').choices(IMPUTATION_KINDS).default('s1'))
    .option('--eta <x>', 'slack of the robust term', num('--eta'), 0)
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(BACKEND_REQUESTS).default('auto'))
    .option('--workers <n>', 'CPU replicas (default as for train)', int('--workers'))
    .option('--quiet', 'no per-epoch progress')
    .option('--json', 'machine-readable results on the last line of stdout')
    .action(async (opts) => {
      const { compareObjectivesCommand } = await import('./compare_objectives.js');
      await compareObjectivesCommand(opts);
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
    // Another MPI rank printed the job's one line (src/cli/mpi_train.ts).
    if (err instanceof Error && err.name === 'SilentExit') return (err as Error & { code: number }).code;
    if (err instanceof GradiaInputError) {
      process.stderr.write(`gradia-dist: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`gradia-dist: ${e.message ?? String(err)}\n`);
    if (process.env.GRADIA_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    return 1;
  }
}

