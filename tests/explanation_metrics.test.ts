// RES's explanation precision / recall / F1 (issue #15): a hand-computed case, a PyTorch
// fixture made from RES's definitions (scripts/make_explanation_metrics_fixture.py), the
// evaluation summary per class, and the exporter's series.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { summariseEvaluation } from '../src/coordinator/evaluation.js';
import { camExplanationScores, explanationScores, resCamMask } from '../src/data/explanation_metrics.js';
import { camIoU, resizeBilinear } from '../src/data/iou.js';
import type { EvalSample, HumanMap } from '../src/data/types.js';
import { TrainingMetrics } from '../src/monitoring/metrics_exporter.js';
import { parseExposition } from './metrics_exposition.js';

/** A label from rows of '1' (look here), 'n' (do not look here) and '0'. */
function label(rows: string[]): HumanMap {
  const h = rows.length;
  const w = rows[0]!.length;
  const data = new Uint8Array(h * w);
  const negative = new Uint8Array(h * w);
  rows.forEach((r, y) => [...r].forEach((c, x) => {
    if (c === '1') data[y * w + x] = 255;
    if (c === 'n') negative[y * w + x] = 255;
  }));
  return negative.some((v) => v) ? { h, w, data, negative } : { h, w, data };
}

describe('explanation precision / recall / F1 (RES definitions)', () => {
  test('hand-computed: a 2x2 cam with one hot cell against a 4x4 label', () => {
    // cam - min = cam; bilinear 2 -> 4 (half-pixel, clamped): weights of source 0 along an
    // axis are [1, .75, .25, 0], so the map is their outer product; / (1 + 1e-6); > 0.5 keeps
    // (0,0)=1, (0,1)=.75, (1,0)=.75, (1,1)=.5625 and drops (0,2)=.25.
    const mask = resCamMask(Float32Array.from([1, 0, 0, 0]), 2, 4, 4);
    expect(Array.from(mask)).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const y = label(['1110', '0n00', '0000', '000n']);
    // tp: (0,0), (0,1); fp: (1,1); fn: (0,2)
    const s = camExplanationScores(Float32Array.from([1, 0, 0, 0]), 2, y);
    const p = 2 / (3 + 1e-6);
    const r = 2 / (3 + 1e-6);
    expect(s.precision).toBeCloseTo(p, 15);
    expect(s.recall).toBeCloseTo(r, 15);
    expect(s.f1).toBeCloseTo((2 * p * r) / (p + r + 1e-6), 15);
    // no ReLU (unlike GRADIA's IoU): shifting the cam by a constant changes nothing
    expect(camExplanationScores(Float32Array.from([-4, -5, -5, -5]), 2, y)).toEqual(s);
  });
  test('without negative labels precision is ~1; a constant cam marks nothing (all scores 0, no NaN)', () => {
    const y = label(['1100', '1100', '0000', '0000']);
    const s = explanationScores(Uint8Array.from([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]), y);
    expect(s.precision).toBeCloseTo(2 / (2 + 1e-6), 15);
    expect(s.recall).toBeCloseTo(2 / (4 + 1e-6), 15);
    expect(camExplanationScores(new Float32Array(4).fill(0.3), 2, y)).toEqual({ precision: 0, recall: 0, f1: 0 });
  });

  const fx = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, 'fixtures', 'torch', 'explanation_metrics.json'), 'utf8')) as {
    torch_vs_opencv_bilinear_max_abs_diff: number;
    cases: { grid: number; h: number; w: number; kind: string; cam: number[]; label: string[]; mask_sum: number; tp: number; fp: number; fn: number; precision: number; recall: number; f1: number; normalised?: number[] }[];
  };
  test('the fixture\'s torch bilinear was checked against OpenCV\'s values', () => {
    expect(fx.torch_vs_opencv_bilinear_max_abs_diff).toBeLessThan(1e-5);
  });
  for (const c of fx.cases) {
    test(`PyTorch fixture: ${c.kind}, cam ${c.grid}x${c.grid} vs label ${c.h}x${c.w}`, () => {
      const cam = Float32Array.from(c.cam);
      const y = label(c.label);
      if (c.normalised) {
        // torch's bilinear (align_corners=False) = resizeBilinear (OpenCV INTER_LINEAR)
        let min = Infinity;
        for (const v of cam) min = Math.min(min, v);
        const up = resizeBilinear(cam.map((v) => v - min), c.grid, c.grid, c.h, c.w);
        const max = Math.max(...up);
        for (let i = 0; i < up.length; i++) expect(up[i]! / Math.fround(max + 1e-6)).toBeCloseTo(c.normalised[i]!, 6);
      }
      const mask = resCamMask(cam, c.grid, c.h, c.w);
      expect(mask.reduce((a, v) => a + v, 0)).toBe(c.mask_sum);
      const s = explanationScores(mask, y);
      expect(s.precision).toBeCloseTo(c.precision, 12);
      expect(s.recall).toBeCloseTo(c.recall, 12);
      expect(s.f1).toBeCloseTo(c.f1, 12);
    });
  }
});

describe('evaluation summary: explanation scores and IoU per class and overall', () => {
  test('means over the images with a map, per true class', () => {
    const y = label(['1110', '0n00', '0000', '000n']);
    const samples: EvalSample[] = [
      { path: 'a', fileName: 'a.png', label: 0, humanMap: y },
      { path: 'b', fileName: 'b.png', label: 0, humanMap: label(['1100', '1100', '0000', '0000']) },
      { path: 'c', fileName: 'c.png', label: 1, humanMap: y },
      { path: 'd', fileName: 'd.png', label: 1, humanMap: null },
    ];
    const cams = [Float32Array.from([1, 0, 0, 0]), Float32Array.from([0, 0, 0, 1]), Float32Array.from([0, 1, 0, 0]), Float32Array.from([1, 0, 0, 0])];
    const results = cams.map((cam, i) => ({ pred: i % 2, logits: new Float32Array(2), cam }));
    const sum = summariseEvaluation(samples, results, ['m', 'w'], 2);
    const want = samples.slice(0, 3).map((s, i) => camExplanationScores(cams[i]!, 2, s.humanMap!));
    const iou = samples.slice(0, 3).map((s, i) => camIoU(cams[i]!, 2, s.humanMap!));
    expect(sum.explanation!.f1).toBeCloseTo((want[0]!.f1 + want[1]!.f1 + want[2]!.f1) / 3, 15);
    expect(sum.explanation!.precision).toBeCloseTo((want[0]!.precision + want[1]!.precision + want[2]!.precision) / 3, 15);
    expect(sum.perClass.m!.nIou).toBe(2);
    expect(sum.perClass.m!.recall).toBeCloseTo((want[0]!.recall + want[1]!.recall) / 2, 15);
    expect(sum.perClass.m!.iou).toBeCloseTo((iou[0]! + iou[1]!) / 2, 15);
    expect(sum.perClass.w!.nIou).toBe(1);
    expect(sum.perClass.w!.f1).toBeCloseTo(want[2]!.f1, 15);
    expect(Object.keys(sum.explanations).sort()).toEqual(['a.png', 'b.png', 'c.png']);
    const none = summariseEvaluation([samples[3]!], [results[3]!], ['m', 'w'], 2);
    expect(none.explanation).toBeNull();
    expect(none.perClass.w).toMatchObject({ nIou: 0, iou: null, precision: null, recall: null, f1: null });
  });
});

describe('exporter', () => {
  test('gradia_validation_explanation_ratio{score} after an epoch, NaN when not measured', async () => {
    const m = new TrainingMetrics({ defaultMetrics: false });
    const read = async () => {
      const e = parseExposition(await m.metricsText());
      return Object.fromEntries(e.samples.filter((s) => s.name === 'gradia_validation_explanation_ratio').map((s) => [s.labels.score, s.value]));
    };
    expect(Object.values(await read()).every((v) => Number.isNaN(v))).toBe(true);
    m.recordValidation({ epoch: 1, accuracy: 0.5, iou: 0.3, explanation: { precision: 0.9, recall: 0.4, f1: 0.55 } });
    expect(await read()).toEqual({ precision: 0.9, recall: 0.4, f1: 0.55 });
    m.recordValidation({ epoch: 2, accuracy: 0.6 });
    expect(Object.values(await read()).every((v) => Number.isNaN(v))).toBe(true);
  });
});
