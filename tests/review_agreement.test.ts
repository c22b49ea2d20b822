// Agreement statistics against textbook worked examples and hand-computed cases.
import { describe, expect, it } from 'vitest';
import { cohenKappa, fleissKappa, formatStat, mapIoU, percentAgreement, weightedKappa } from '../src/review/agreement_stats.js';
import { formatJudgementAgreement, judgementAgreement } from '../src/review/agreement.js';
import type { FoldedItem } from '../src/review/journal_read.js';
import type { Judgement } from '../src/review/api.js';

const rep = <T>(v: readonly [T, T], n: number): (readonly [T, T])[] => Array.from({ length: n }, () => v);

describe('agreement statistics', () => {
  it("Cohen's kappa: Wikipedia's 50 grant proposals (20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no) -> po 0.7, pe 0.5, kappa 0.4", () => {
    const pairs = [...rep(['yes', 'yes'] as const, 20), ...rep(['yes', 'no'] as const, 5), ...rep(['no', 'yes'] as const, 10), ...rep(['no', 'no'] as const, 15)];
    expect(percentAgreement(pairs)).toBeCloseTo(0.7, 12);
    expect(cohenKappa(pairs)).toBeCloseTo(0.4, 12);
  });

  it("Fleiss' kappa: Fleiss (1971) as on Wikipedia, 10 subjects x 14 raters x 5 categories -> 0.210", () => {
    const table = [
      [0, 0, 0, 0, 14],
      [0, 2, 6, 4, 2],
      [0, 0, 3, 5, 6],
      [0, 3, 9, 2, 0],
      [2, 2, 8, 1, 1],
      [7, 7, 0, 0, 0],
      [3, 2, 6, 3, 0],
      [2, 5, 3, 2, 2],
      [6, 5, 2, 1, 0],
      [0, 2, 2, 3, 7],
    ];
    // P-bar = 0.378, P-bar_e = 0.2128 (p_j = .143 .200 .279 .150 .229): kappa = 0.2099
    expect(fleissKappa(table)!).toBeCloseTo(0.20993, 4);
  });

  it('weighted kappa (quadratic) on ratings 1-5, hand-computed: A = 1 2 3 4 5, B = 1 2 3 5 4 -> 0.9', () => {
    // observed disagreement sum (i-j)^2 = 2; expected = sum_ij (1/5)(1/5)(i-j)^2 * 5 = 100/5 = 20; 1 - 2/20 = 0.9
    const pairs: [number, number][] = [[1, 1], [2, 2], [3, 3], [4, 5], [5, 4]];
    expect(weightedKappa(pairs, 1, 5)).toBeCloseTo(0.9, 12);
    // linear weights |i-j|: observed 2, expected sum |i-j| over 5x5 / 5 = 40/5 = 8 -> 0.75
    expect(weightedKappa(pairs, 1, 5, 'linear')).toBeCloseTo(0.75, 12);
    // unequal marginals on 1..3: A = 1 1 2 3, B = 1 2 2 1; observed 0+1+0+4 = 5;
    // expected sum_ij (i-j)^2 a_i b_j / n with a = (2,1,1), b = (2,2,0): (4 + 2 + 8 + 2) / 4 = 4 -> 1 - 5/4 = -0.25
    expect(weightedKappa([[1, 1], [1, 2], [2, 2], [3, 1]], 1, 3)).toBeCloseTo(-0.25, 12);
  });

  it('kappa is undefined (null, printed "undefined", never NaN) when expected agreement is 1', () => {
    const same = rep(['reasonable', 'reasonable'] as const, 6);
    expect(percentAgreement(same)).toBe(1);
    expect(cohenKappa(same)).toBeNull();
    expect(fleissKappa([[3, 0], [3, 0]])).toBeNull();
    expect(weightedKappa([[4, 4], [4, 4]], 1, 5)).toBeNull();
    expect(formatStat(cohenKappa(same))).toBe('undefined');
  });

  it('map IoU: 2 shared of 4 set pixels -> 0.5; two empty maps -> undefined', () => {
    expect(mapIoU(Uint8Array.from([1, 1, 1, 0]), Uint8Array.from([0, 1, 1, 1]))).toBe(0.5);
    expect(mapIoU(new Uint8Array(4), new Uint8Array(4))).toBeNull();
  });
});

describe('judgement agreement from journals', () => {
  const item = (image: string, index: number, judgement: Judgement | null, map?: number[]): FoldedItem => ({
    index, image, revision: 1, judgement, removed: false, removeGiven: false, mapGiven: Boolean(map), seqs: [index + 1],
    map: map ? { h: 2, w: 2, bits: Buffer.from(map).toString('base64') } : null,
  });
  const states = (name: string, js: (Judgement | null)[], maps: Record<number, number[]> = {}) => ({
    annotator: name, file: `${name}.jsonl`,
    items: new Map(js.map((j, i) => [`im${i}.png`, item(`im${i}.png`, i, j, maps[i])])),
  });

  it('pairs, Fleiss over images all judged, map IoU; printed with "undefined" for a degenerate pair', () => {
    const R = 'reasonable' as const;
    const U = 'unreasonable' as const;
    const r = judgementAgreement([
      // map IoU of the "look here" pixels (1); a shared "do not look here" pixel (2) does not count
      states('ann', [R, R, U, U], { 0: [1, 1, 2, 0] }),
      states('bob', [R, U, U, null], { 0: [1, 0, 2, 0] }),
      states('cy', [R, R, U, U]),
    ]);
    const ab = r.pairs.find((p) => p.a === 'ann' && p.b === 'bob')!;
    // 3 images both judged: R/R, R/U, U/U -> po 2/3; ann R 2/3 U 1/3, bob R 1/3 U 2/3 -> pe 4/9; kappa (2/3-4/9)/(5/9) = 0.4
    expect(ab.n).toBe(3);
    expect(ab.percent).toBeCloseTo(2 / 3, 12);
    expect(ab.kappa).toBeCloseTo(0.4, 12);
    expect(ab.maps).toEqual({ n: 1, meanIoU: 0.5 });
    // Fleiss over im0..im2 (bob did not judge im3): counts [3,0], [2,1], [0,3]
    // P_i = 1, 1/3, 1 -> P-bar 7/9; p = (5/9, 4/9) -> Pe 41/81; kappa = (63/81-41/81)/(40/81) = 0.55
    expect(r.fleiss!.n).toBe(3);
    expect(r.fleiss!.kappa).toBeCloseTo(0.55, 12);
    const text = formatJudgementAgreement(judgementAgreement([states('a', [R, R]), states('b', [R, R])]), 'm');
    expect(text).toContain("Cohen's kappa undefined");
    expect(text).toContain('agreement 100.0%');
    expect(text).not.toContain('NaN');
  });
});
