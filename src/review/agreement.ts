/**
 * `review --agreement`: how far the annotators agree, from their journals.
 * Judgements: per pair, percent agreement and Cohen's kappa over the images both judged;
 * Fleiss' kappa over the images every annotator judged; per pair, the mean IoU of the "look
 * here" regions of the maps both redrew (the region `evaluate`'s IoU measures). Study answers: per pair, weighted (quadratic) kappa of the 1-5 ratings and
 * Cohen's kappa of each yes/no question, over the (image, model) pairs both answered.
 */
import { cohenKappa, fleissKappa, formatStat, mapIoU, percentAgreement, weightedKappa } from './agreement_stats.js';
import { MAP_LOOK, type Judgement, type StudyAnswer } from './api.js';
import { decodeLabelMap, type FoldedItem } from './journal_read.js';
import type { AnnotatorStates } from './merge.js';
import { labelPlane } from './raster.js';

export interface JudgementPair {
  a: string;
  b: string;
  /** images both judged */
  n: number;
  percent: number | null;
  kappa: number | null;
  /** images both redrew, and the mean IoU of their maps there */
  maps: { n: number; meanIoU: number | null };
}

export interface JudgementAgreement {
  annotators: string[];
  pairs: JudgementPair[];
  /** over the images every annotator judged (null with fewer than two annotators) */
  fleiss: { n: number; kappa: number | null } | null;
}

function pairsOf<T>(xs: T[]): [T, T][] {
  const out: [T, T][] = [];
  for (let i = 0; i < xs.length; i++) for (let j = i + 1; j < xs.length; j++) out.push([xs[i]!, xs[j]!]);
  return out;
}

export function judgementAgreement(states: AnnotatorStates[]): JudgementAgreement {
  const judged = (s: AnnotatorStates): Map<string, Judgement> => new Map([...s.items.values()].filter((it) => it.judgement !== null).map((it) => [it.image, it.judgement!]));
  const j = new Map(states.map((s) => [s.annotator, judged(s)]));
  const pairs = pairsOf(states).map(([sa, sb]): JudgementPair => {
    const ja = j.get(sa.annotator)!;
    const jb = j.get(sb.annotator)!;
    const both = [...ja.keys()].filter((k) => jb.has(k)).map((k) => [ja.get(k)!, jb.get(k)!] as const);
    const ious: number[] = [];
    for (const it of sa.items.values()) {
      const other: FoldedItem | undefined = sb.items.get(it.image);
      if (!it.map || !other?.map || it.map.h !== other.map.h || it.map.w !== other.map.w) continue;
      const v = mapIoU(labelPlane(decodeLabelMap(it.map, { file: sa.file, image: it.image }), MAP_LOOK), labelPlane(decodeLabelMap(other.map, { file: sb.file, image: it.image }), MAP_LOOK));
      if (v !== null) ious.push(v);
    }
    return {
      a: sa.annotator, b: sb.annotator, n: both.length, percent: percentAgreement(both), kappa: cohenKappa(both),
      maps: { n: ious.length, meanIoU: ious.length ? ious.reduce((x, y) => x + y, 0) / ious.length : null },
    };
  });
  let fleiss: JudgementAgreement['fleiss'] = null;
  if (states.length >= 2) {
    const all = [...j.values()];
    const common = [...all[0]!.keys()].filter((k) => all.every((m) => m.has(k)));
    const counts = common.map((k) => {
      const r = all.filter((m) => m.get(k) === 'reasonable').length;
      return [r, all.length - r];
    });
    fleiss = { n: common.length, kappa: fleissKappa(counts) };
  }
  return { annotators: states.map((s) => s.annotator), pairs, fleiss };
}

/** One annotator's study answers: `${image}\u0000${model}` -> answer. */
export type StudyAnswersByKey = Map<string, StudyAnswer>;

export interface StudyPair {
  a: string;
  b: string;
  /** (image, model) pairs both answered */
  n: number;
  ratingKappa: number | null;
  necessaryKappa: number | null;
  unnecessaryKappa: number | null;
}

export function studyAgreement(byAnnotator: Map<string, StudyAnswersByKey>): { annotators: string[]; pairs: StudyPair[] } {
  const names = [...byAnnotator.keys()].sort();
  const pairs = pairsOf(names).map(([a, b]): StudyPair => {
    const ma = byAnnotator.get(a)!;
    const mb = byAnnotator.get(b)!;
    const keys = [...ma.keys()].filter((k) => mb.has(k));
    const pick = <T>(f: (s: StudyAnswer) => T) => keys.map((k) => [f(ma.get(k)!), f(mb.get(k)!)] as const);
    return {
      a, b, n: keys.length,
      ratingKappa: weightedKappa(pick((s) => s.rating as number), 1, 5),
      necessaryKappa: cohenKappa(pick((s) => s.necessary)),
      unnecessaryKappa: cohenKappa(pick((s) => s.unnecessary)),
    };
  });
  return { annotators: names, pairs };
}

const pct = (v: number | null): string => (v === null ? 'undefined' : `${(100 * v).toFixed(1)}%`);

export function formatJudgementAgreement(r: JudgementAgreement, model: string): string {
  const lines = [`judgement agreement for ${model}: ${r.annotators.length} annotator${r.annotators.length === 1 ? '' : 's'} (${r.annotators.join(', ') || 'none'})`];
  if (r.annotators.length < 2) {
    lines.push('  agreement needs at least two annotators');
    return lines.join('\n');
  }
  for (const p of r.pairs) {
    lines.push(`  ${p.a} / ${p.b}: ${p.n} images both judged, agreement ${pct(p.percent)}, Cohen's kappa ${formatStat(p.kappa)}; ${p.maps.n} map${p.maps.n === 1 ? '' : 's'} both redrew, mean IoU ${formatStat(p.maps.meanIoU)}`);
  }
  if (r.fleiss) lines.push(`  Fleiss' kappa over the ${r.fleiss.n} images everyone judged: ${formatStat(r.fleiss.kappa)}`);
  return lines.join('\n');
}

export function formatStudyAgreement(r: { annotators: string[]; pairs: StudyPair[] }): string {
  const lines = [`study agreement: ${r.annotators.length} annotator${r.annotators.length === 1 ? '' : 's'} (${r.annotators.join(', ') || 'none'})`];
  if (r.annotators.length < 2) lines.push('  agreement needs at least two annotators');
  for (const p of r.pairs) {
    lines.push(`  ${p.a} / ${p.b}: ${p.n} answers in common, rating weighted kappa ${formatStat(p.ratingKappa)}, necessary kappa ${formatStat(p.necessaryKappa)}, unnecessary kappa ${formatStat(p.unnecessaryKappa)}`);
  }
  return lines.join('\n');
}
