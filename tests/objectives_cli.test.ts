// Every objective trains end to end from the CLI: `compare-objectives` on a tiny generated
// set with negative labels (tiny18, 96 px: a 3x3 grid, where RES's nearest-neighbour targets
// keep their labels), one seed, one epoch per phase; and the new flags' bad values.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lastJson, runCli } from './helpers/cli.js';
import { OBJECTIVE_NAMES } from '../src/model/objectives/types.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-objectives-cli-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('objectives from the CLI', () => {
  it('compare-objectives trains every objective (phase 2 from one phase-1 model) and prints the table', { timeout: 600_000 }, () => {
    const r = runCli(['compare-objectives', '--seeds', '1', '--dir', dir, '--train', '24', '--val', '32', '--test', '16', '--size', '96',
      '--p1-epochs', '1', '--p2-epochs', '1', '--imputation', 'd2', '--quiet', '--json'], { timeoutMs: 600_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson(r) as { phase1: unknown[]; results: { objective: string; scores: { accuracy: number; iou: number | null; f1: number | null; attLoss: number }[] }[] };
    expect(out.phase1).toHaveLength(1); // the phase-1 model's own scores, the baseline row
    expect(out.results.map((x) => x.objective)).toEqual([...OBJECTIVE_NAMES]);
    for (const row of out.results) {
      const [s] = row.scores;
      expect(s!.accuracy).toBeGreaterThanOrEqual(0);
      expect(s!.iou).not.toBeNull();
      expect(s!.f1).not.toBeNull();
      // each objective's own attention loss was computed on labelled samples
      expect(s!.attLoss, row.objective).toBeGreaterThan(0);
    }
    // five different losses, not one loss five times
    expect(new Set(out.results.map((x) => x.scores[0]!.attLoss.toFixed(6))).size).toBe(OBJECTIVE_NAMES.length);
    for (const o of ['none \\(phase 1\\)', ...OBJECTIVE_NAMES]) expect(r.stdout).toMatch(new RegExp(`^\\| ${o} \\| \\d+\\.\\d% ± 0\\.0 \\| \\d\\.\\d{3} ± 0\\.000 \\| \\d\\.\\d{3} ± 0\\.000 \\|$`, 'm'));
    // RES-L's checkpoint holds the D2 imputation network beside the classifier
    const header = fs.readFileSync(path.join(dir, 'seed0', 'p2-res-l', 'model_out_p2_last.safetensors'));
    const json = JSON.parse(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString('utf8')) as Record<string, { shape: number[] }>;
    expect(json['imp_conv1.weight']!.shape).toEqual([4, 4, 7, 7]);
    expect(json['imp_conv5.weight']!.shape).toEqual([1, 4, 3, 3]);
  });

  it('bad values of the new flags are one line naming the flag, exit 2', () => {
    for (const [args, msg] of [
      [['--objective', 'l2'], '--objective must be one of gradia, haics, gaussian, res-g, res-l'],
      [['--imputation', 's3'], '--imputation must be one of s1, s2, d1, d2'],
      [['--eta', '-0.5'], '--eta must be >= 0'],
      [['--imputation-reg', 'x'], '--imputation-reg must be a number'],
    ] as const) {
      const r = runCli(['train', ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(msg);
    }
    const c = runCli(['compare-objectives', '--objectives', 'gradia,foo']);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('--objectives must list some of');
  });
});
