// `gradia-dist review`: serves the page on which people judge the phase-1 model's attention
// and redraw it. Holds <data-dir>/review/<model>/'s lock, runs the model over the validation
// images once (cached per checkpoint id), prints one line with the URL (token included) and
// serves until SIGINT/SIGTERM.
import { acquireModelDirLock, type ModelDirLock } from '../coordinator/model_dir_lock.js';
import { buildEvalSet, datasetFingerprint } from '../data/phase_dataset.js';
import { ANNOTATOR_PATTERN } from '../review/api.js';
import { createContext, type ReviewContext } from '../review/context.js';
import { keepFirstSeen } from '../review/first_seen.js';
import { listenError } from '../review/http_util.js';
import { reviewDirOf } from '../review/journal_read.js';
import { modelOutputs } from '../review/model_outputs.js';
import type { RouteHandler } from '../review/routes.js';
import { startReviewServer, type ReviewServer } from '../review/server.js';
import { GradiaInputError } from '../util/errors.js';
import { ensureWritableDir } from '../util/fs_errors.js';
import { runtimeFrom, type RuntimeFlags } from './runtime_options.js';

export interface ReviewFlags extends RuntimeFlags {
  dataDir: string; modelDir: string; modelName: string; testBatch: number;
  host: string; port: number; annotator: string;
}

export function checkAnnotator(name: string): string {
  if (!ANNOTATOR_PATTERN.test(name)) throw new GradiaInputError(null, `--annotator ${JSON.stringify(name)}: use 1-32 letters, digits, '.', '_' or '-' (it names the journal file)`);
  return name;
}

export interface OpenReview { server: ReviewServer; ctx: ReviewContext; lock: ModelDirLock; close(): Promise<void> }

/** Everything up to a listening server (the study mode passes its routes in `handlers`). */
export async function openReview(f: ReviewFlags, o: { handlers?: RouteHandler[]; log?: (line: string) => void } = {}): Promise<OpenReview> {
  const log = o.log ?? ((l: string) => console.error(l));
  checkAnnotator(f.annotator);
  if (!(Number.isInteger(f.port) && f.port >= 0 && f.port <= 65535)) throw new GradiaInputError(null, `--port ${f.port}: must be 0-65535`);
  const reviewDir = reviewDirOf(f.dataDir, f.modelName);
  // the data set is checked before anything is created in it (a mistyped --data-dir stays untouched)
  const evalSet = await buildEvalSet(f.dataDir, 'val');
  for (const w of evalSet.warnings) log(`warning: ${w}`);
  if (evalSet.samples.length === 0) throw new GradiaInputError(f.dataDir, 'the val split has no images to review');
  ensureWritableDir(reviewDir, '--data-dir (its review folder)');
  const lock = acquireModelDirLock(reviewDir, { log });
  try {
    const kept = keepFirstSeen(f.dataDir, reviewDir);
    if (kept.created) log(`review: the label files as first seen are kept in ${kept.dir}`);
    const outputs = await modelOutputs({ runtime: () => runtimeFrom(f), modelDir: f.modelDir, modelName: f.modelName, testBatch: f.testBatch, reviewDir, classes: evalSet.classes, samples: evalSet.samples, log });
    const ctx = createContext({ dataDir: f.dataDir, reviewDir, modelName: f.modelName, datasetFingerprint: datasetFingerprint(f.dataDir), classes: evalSet.classes, samples: evalSet.samples, outputs, log });
    ctx.journal(f.annotator); // a torn journal line is reported now, not on the first request
    const server = await startReviewServer({ ctx, host: f.host, port: f.port, defaultAnnotator: f.annotator, handlers: o.handlers });
    return { server, ctx, lock, close: async () => { await server.close(); lock.release(); } };
  } catch (e) {
    lock.release();
    throw listenError(e, f.host, f.port);
  }
}

/** `review`: serve until interrupted. */
export async function reviewCommand(f: ReviewFlags): Promise<void> {
  const r = await openReview(f);
  process.stdout.write(`review: open ${r.server.url}  (annotator ${f.annotator}; add &annotator=NAME for another person; Ctrl-C stops)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void r.close().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
