import { describe, expect, it } from 'vitest';
import {
  BarClock, ProgressDisplay, formatDuration, formatEpochSummary, formatLoss, formatProgressLine, formatRate, formatRatio, percent, renderBar,
} from '../src/cli/progress.js';
import { RateMeter, etaSeconds, remainingSteps } from '../src/monitoring/metrics_eta.js';

class FakeStream {
  chunks: string[] = [];
  constructor(readonly isTTY = false, readonly columns = 120) {}
  write(s: string): boolean { this.chunks.push(s); return true; }
  get text(): string { return this.chunks.join(''); }
}

describe('formatting', () => {
  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(59.4)).toBe('59s');
    expect(formatDuration(59.6)).toBe('1m00s');
    expect(formatDuration(61)).toBe('1m01s');
    expect(formatDuration(3599)).toBe('59m59s');
    expect(formatDuration(3600)).toBe('1h00m');
    expect(formatDuration(3661)).toBe('1h01m');
    expect(formatDuration(25 * 3600 + 90)).toBe('25h02m');
    for (const bad of [NaN, Infinity, -1]) expect(formatDuration(bad)).toBe('--');
  });

  it('formats rates, losses, ratios, bars and percentages', () => {
    expect(formatRate(123.4)).toBe('123 img/s');
    expect(formatRate(12.345)).toBe('12.3 img/s');
    expect(formatRate(1.234)).toBe('1.23 img/s');
    expect(formatRate(NaN)).toBe('-- img/s');
    expect(formatLoss(0.693147)).toBe('0.6931');
    expect(formatLoss(0)).toBe('0.0000');
    expect(formatLoss(1.234e-5)).toBe('1.23e-5');
    expect(formatLoss(undefined)).toBe('-');
    expect(formatLoss(NaN)).toBe('-');
    expect(formatLoss(Infinity)).toBe('inf');
    expect(formatRatio(0.62512)).toBe('0.625');
    expect(formatRatio(NaN)).toBe('-');
    expect(renderBar(0.5, 10)).toBe('#####-----');
    expect(renderBar(1.7, 4)).toBe('####');
    expect(renderBar(-1, 4)).toBe('----');
    expect(renderBar(NaN, 3)).toBe('---');
    expect(percent(16, 32)).toBe(50);
    expect(percent(31, 32)).toBe(96);
    expect(percent(40, 32)).toBe(100);
    expect(percent(0, 0)).toBe(100);
  });

  it('formats a progress line with and without a bar', () => {
    const s = { title: 'epoch 1/2', done: 16, total: 32, ratePerS: 12.34, etaS: 4.2, taskLoss: 0.69314, attLoss: 0 };
    expect(formatProgressLine(s)).toBe('epoch 1/2  50% 16/32 img | 12.3 img/s | task 0.6931 | att 0.0000 | ETA 4s');
    expect(formatProgressLine(s, 10)).toBe('epoch 1/2 [#####-----]  50% 16/32 img | 12.3 img/s | task 0.6931 | att 0.0000 | ETA 4s');
    expect(formatProgressLine({ title: 'evaluate test', done: 0, total: 8, ratePerS: NaN, etaS: NaN }))
      .toBe('evaluate test   0% 0/8 img | -- img/s | ETA --');
  });

  it('formats the epoch summary line', () => {
    expect(formatEpochSummary({ phase: 2, epoch: 3, nEpochs: 5, images: 640, seconds: 80, taskLoss: 0.41234, attLoss: 0.0123, accuracy: 0.8125, iou: 0.4567, checkpoint: 'model_out_3', best: true }))
      .toBe('phase 2 epoch 3/5 done in 1m20s: 640 img, 8.00 img/s, task 0.4123, att 0.0123, val acc 0.813, val IoU 0.457, saved model_out_3 (best)');
    expect(formatEpochSummary({ epoch: 1, nEpochs: 1, images: 32, seconds: 0 }))
      .toBe('epoch 1/1 done in 0s: 32 img, -- img/s');
    expect(formatEpochSummary({ epoch: 1, nEpochs: 2, images: 10, seconds: 4, best: true })).toBe('epoch 1/2 done in 4s: 10 img, 2.50 img/s, best so far');
  });
});

describe('ETA math', () => {
  it('estimates the rate over a sliding window', () => {
    const r = new RateMeter(10);
    expect(r.rate()).toBeNaN();
    r.add(0, 0);
    expect(r.rate()).toBeNaN();
    r.add(0, 5);
    expect(r.rate()).toBeNaN();            // no time passed: unknown, not Infinity
    r.add(2, 10);
    expect(r.rate()).toBe(5);              // (10 - 0) / 2
    // The run slows to 1 unit/s: after the window passes, only the recent speed counts.
    for (let t = 3; t <= 20; t++) r.add(t, 10 + (t - 2));
    expect(r.rate()).toBe(1);
    // A long stall keeps the last two readings.
    r.add(100, 28);
    expect(r.rate()).toBeCloseTo(0, 12);
    expect(() => r.add(50, 30)).toThrow(/backwards/);
    r.reset();
    expect(r.rate()).toBeNaN();
    expect(() => new RateMeter(0)).toThrow();
  });

  it('computes ETAs and remaining steps', () => {
    expect(etaSeconds(30, 3)).toBe(10);
    expect(etaSeconds(0, NaN)).toBe(0);
    expect(etaSeconds(5, 0)).toBeNaN();
    expect(etaSeconds(5, NaN)).toBeNaN();
    expect(remainingSteps(1, 3, 1, 4)).toBe(11);
    expect(remainingSteps(3, 3, 4, 4)).toBe(0);
    expect(remainingSteps(3, 3, 9, 4)).toBe(0);
    const c = new BarClock(30);
    c.start(100);
    expect(c.update(102, 16, 64)).toEqual({ ratePerS: 8, etaS: 6 });
    expect(c.update(106, 32, 64)).toEqual({ ratePerS: 32 / 6, etaS: 6 });
  });
});

describe('ProgressDisplay', () => {
  it('writes to stderr by default', () => {
    expect(new ProgressDisplay().stream).toBe(process.stderr);
  });

  it('prints periodic plain lines and one summary per epoch when not a TTY', () => {
    let t = 0;
    const out = new FakeStream(false);
    const p = new ProgressDisplay({ stream: out, now: () => t, intervalS: 10 });
    p.startEpoch({ phase: 1, epoch: 1, nEpochs: 2, totalImages: 32 });
    t = 4000; p.update({ done: 8, taskLoss: 0.7, attLoss: 0 });
    expect(out.text).toBe('');              // not yet: at most one line per 10 s
    t = 11000; p.update({ done: 24, taskLoss: 0.6, attLoss: 0 });
    t = 12000; p.update({ done: 32, taskLoss: 0.5, attLoss: 0 });
    const line = p.endEpoch({ phase: 1, epoch: 1, nEpochs: 2, images: 32, taskLoss: 0.6, attLoss: 0, accuracy: 0.75, checkpoint: 'model_out', best: true });
    expect(out.chunks).toEqual([
      'phase 1 epoch 1/2  75% 24/32 img | 2.18 img/s | task 0.6000 | att 0.0000 | ETA 4s\n',
      'phase 1 epoch 1/2 done in 12s: 32 img, 2.67 img/s, task 0.6000, att 0.0000, val acc 0.750, saved model_out (best)\n',
    ]);
    expect(line).toBe(out.chunks[1]!.trimEnd());
    expect(out.text).not.toMatch(/\x1b/); // no terminal escapes in logs
  });

  it('redraws a bar on a TTY and leaves the summary line', async () => {
    let t = 0;
    const out = new FakeStream(true);
    const p = new ProgressDisplay({ stream: out, now: () => t, barWidth: 8 });
    p.start('evaluate val', 16);
    t = 1000; p.update({ done: 8 });
    t = 2000; p.update({ done: 16 });
    p.finish('evaluated 16 img');
    expect(out.text).toContain('evaluate val [\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588] 100% 16/16 img | 8.00 img/s | ETA 0s');
    expect(out.text.endsWith('evaluated 16 img\n')).toBe(true);
    expect(out.text).toMatch(/\x1b/);
  });

  it('prints nothing when disabled', () => {
    const out = new FakeStream(false);
    const p = new ProgressDisplay({ stream: out, enabled: false, intervalS: 0 });
    p.startEpoch({ epoch: 1, nEpochs: 1, totalImages: 8 });
    p.update({ done: 8, taskLoss: 1 });
    p.endEpoch({ epoch: 1, nEpochs: 1, images: 8 });
    p.log('x');
    expect(out.chunks).toEqual([]);
  });
});
