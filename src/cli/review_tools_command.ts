// `gradia-dist review --publish | --agreement | --study`: the review step's tools beside
// the judging server. --publish and --agreement start no server; --study serves the blind
// comparison page (and --study --export writes its CSV/JSON without serving).
import path from 'node:path';
import { checkSameClasses, readCheckpointMeta } from '../coordinator/checkpoint.js';
import type { Cluster } from '../coordinator/cluster.js';
import { openCheckpointCluster, evaluateCheckpoint } from '../coordinator/checkpoint_cluster.js';
import { evaluateSamples } from '../coordinator/evaluation.js';
import { acquireModelDirLock } from '../coordinator/model_dir_lock.js';
import { formatMatrix } from '../data/assess.js';
import { buildEvalSet } from '../data/phase_dataset.js';
import { gridOf } from '../config/geometry.js';
import { GradiaInputError } from '../util/errors.js';
import { formatJudgementAgreement, formatStudyAgreement, judgementAgreement, studyAgreement } from '../review/agreement.js';
import { ANNOTATOR_PATTERN } from '../review/api.js';
import { listenError } from '../review/http_util.js';
import { foldByImage, readAllJournals, reviewDirOf } from '../review/journal_read.js';
import { describeRule, parseMergeRule } from '../review/merge.js';
import { publishReview } from '../review/publish.js';
import { openStudyPlan, parseModelList, readStudyPlan } from '../review/study_plan.js';
import { startStudyServer, type StudyModelOutputs } from '../review/study_server.js';
import { exportStudy, readStudyJournals, studyAnswersByKey, studyDirOf } from '../review/study_store.js';
import { printJsonLine, runtimeFrom, type RuntimeFlags } from './runtime_options.js';

export interface ReviewToolFlags extends RuntimeFlags {
  dataDir: string; modelDir: string; modelName: string; testBatch: number;
  publish?: boolean; merge?: string; agreement?: boolean;
  study?: boolean; models?: string; split?: 'val' | 'test'; export?: boolean;
  host?: string; port?: number; annotator?: string; json?: boolean;
}

/** Whether these flags ask for one of this module's tools (else the judging server runs). */
export const isReviewTool = (f: ReviewToolFlags): boolean => Boolean(f.publish || f.agreement || f.study || f.merge !== undefined || f.models !== undefined || f.export || f.split !== undefined);

export async function reviewToolCommand(f: ReviewToolFlags): Promise<void> {
  const modes = [f.publish && '--publish', f.agreement && '--agreement', f.study && '--study'].filter(Boolean);
  if (modes.length > 1) throw new GradiaInputError(null, `review: ${modes.join(' and ')} cannot be combined; run them one at a time`);
  if (f.merge !== undefined && !f.publish) throw new GradiaInputError(null, '--merge only applies with --publish');
  if ((f.models !== undefined || f.export) && !f.study) throw new GradiaInputError(null, `${f.models !== undefined ? '--models' : '--export'} only applies with --study`);
  // --merge, --models and --export without their mode were refused above: only --split is left
  if (modes.length === 0) throw new GradiaInputError(null, 'review: --split needs --study');
  if (f.split !== undefined && !f.study) throw new GradiaInputError(null, '--split only applies with --study');
  if (f.publish) return publish(f);
  if (f.agreement) return agreement(f);
  return study(f);
}

async function publish(f: ReviewToolFlags): Promise<void> {
  const rule = parseMergeRule(f.merge ?? 'majority');
  const meta = readCheckpointMeta(f.modelDir, f.modelName);
  const runtime = await runtimeFrom(f);
  const held: { cluster?: Cluster } = {};
  // one publish at a time per model (a judging server may keep running meanwhile)
  const lock = acquireModelDirLock(path.join(reviewDirOf(f.dataDir, f.modelName), 'published'), { command: `gradia-dist review --publish --model-name ${f.modelName}` });
  try {
    const r = await publishReview({
      dataDir: f.dataDir, modelName: f.modelName, rule, grid: gridOf(meta.inputSize), checkpointId: meta.id,
      // accurate / inaccurate: the checkpoint's own predictions, as `assess` decides them
      predict: async (samples, classes) => {
        const opened = await openCheckpointCluster(runtime, f.modelDir, f.modelName, f.testBatch);
        held.cluster = opened.cluster;
        checkSameClasses(f.modelDir, f.modelName, opened.meta.classes, classes);
        return (await evaluateSamples(opened.cluster, samples, f.testBatch)).map((o) => o.pred);
      },
    });
    for (const w of r.warnings) console.warn(`warning: ${w}`);
    console.log(`review --publish ${f.modelName}: ${r.counts.judged} judged, ${r.counts.maps} redrawn map${r.counts.maps === 1 ? '' : 's'}, ${r.counts.removed} removed, from ${r.counts.annotators} annotator${r.counts.annotators === 1 ? '' : 's'}`);
    console.log(`  rule: ${describeRule(rule)}`);
    console.log(formatMatrix(r.matrix));
    console.log(`wrote ${r.files.reasonability}, ${r.files.update}, ${r.files.remove}`);
    console.log(`  what each entry came from: ${r.files.manifest}${r.backup ? `; the files replaced: ${r.backup}/` : ''}`);
    if (f.json) printJsonLine({ command: 'review', mode: 'publish', model: f.modelName, counts: r.counts, matrix: r.matrix, files: r.files, backup: r.backup });
  } finally {
    await held.cluster?.close();
    lock.release();
  }
}

async function agreement(f: ReviewToolFlags): Promise<void> {
  const reviewDir = reviewDirOf(f.dataDir, f.modelName);
  const journals = readAllJournals(reviewDir);
  const studyDir = studyDirOf(f.dataDir);
  const plan = readStudyPlan(studyDir);
  if (journals.size === 0 && !plan) throw new GradiaInputError(path.join(reviewDir, 'judgements'), 'no journals and no study: nothing to compare');
  const out: Record<string, unknown> = { command: 'review', mode: 'agreement', model: f.modelName };
  if (journals.size > 0) {
    const r = judgementAgreement([...journals].map(([annotator, j]) => ({ annotator, file: j.file, items: foldByImage(j.events) })));
    console.log(formatJudgementAgreement(r, f.modelName));
    out.judgements = r;
  }
  if (plan) {
    const r = studyAgreement(studyAnswersByKey(plan, readStudyJournals(studyDir)));
    console.log(formatStudyAgreement(r));
    out.study = r;
  }
  if (f.json) printJsonLine(out);
}

async function study(f: ReviewToolFlags): Promise<void> {
  const studyDir = studyDirOf(f.dataDir);
  if (f.export) {
    const plan = readStudyPlan(studyDir);
    if (!plan) throw new GradiaInputError(studyDir, 'no study here to export (run `review --study --models A,B` first)');
    const r = exportStudy(studyDir, plan);
    for (const [a, file] of Object.entries(r.csv)) console.log(`${a}: ${r.progress[a]!.answered} of ${r.progress[a]!.of} images answered -> ${file}`);
    console.log(`wrote ${r.json}`);
    if (f.json) printJsonLine({ command: 'review', mode: 'study-export', csv: r.csv, json: r.json, progress: r.progress });
    return;
  }
  if (f.models === undefined) throw new GradiaInputError(null, '--study needs --models A,B[,C...] (checkpoint names in --model-dir)');
  const models = parseModelList(f.models);
  const split = f.split ?? 'test';
  const annotator = f.annotator ?? 'annotator';
  if (!ANNOTATOR_PATTERN.test(annotator)) throw new GradiaInputError(null, `--annotator ${annotator}: letters, digits, _ . - only (at most 32)`);
  const lock = acquireModelDirLock(studyDir, { command: `gradia-dist review --study --models ${models.join(',')}` });
  try {
    const runtime = await runtimeFrom(f);
    const outputs: StudyModelOutputs[] = [];
    let samples = null as null | Awaited<ReturnType<typeof buildEvalSet>>['samples'];
    for (const m of models) {
      process.stderr.write(`review --study: running ${m} on the ${split} split...\n`);
      const r = await evaluateCheckpoint({ runtime, dataDir: f.dataDir, modelDir: f.modelDir, name: m, split, testBatch: f.testBatch });
      samples ??= r.evalSet.samples;
      outputs.push({ cams: r.results.map((x) => x.cam), grid: r.grid });
    }
    const plan = openStudyPlan(studyDir, { models, split, images: samples!.map((s) => s.fileName) });
    const host = f.host ?? '127.0.0.1';
    const port = f.port ?? 8765;
    const server = await startStudyServer({ plan, studyDir, samples: samples!, outputs, host, port, annotator }).catch((e: unknown) => {
      throw listenError(e, host, port);
    });
    console.log(`review --study: ${plan.images.length} ${split} images, ${models.length} models, blind; open ${server.url}`);
    console.log('  (add &annotator=NAME to the URL for each person; Ctrl-C stops; then `review --study --export`)');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    const r = exportStudy(studyDir, plan);
    console.log(`wrote ${Object.values(r.csv).join(', ') || 'no answers yet'}; ${r.json}`);
  } finally {
    lock.release();
  }
}
