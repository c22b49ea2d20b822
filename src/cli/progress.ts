/**
 * Progress display for training and evaluation, on stderr (stdout stays free for the
 * `--json` result line).
 *
 * On a terminal: one redrawn bar per epoch (cli-progress) with images/s, task and
 * attention loss and the epoch's ETA. Elsewhere (CI logs, pipes): a plain line every
 * `intervalS` seconds instead of redrawing. Both print one summary line per epoch.
 * The formatting and the ETA math are pure functions, exported for tests.
 */
import cliProgress from 'cli-progress';
import { RateMeter, etaSeconds } from '../monitoring/metrics_eta.js';
import type { RunObserver } from '../coordinator/run_events.js';

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Where to draw (default process.stderr). */
  stream?: ProgressStream;
  /** Redraw a bar (true) or print plain lines (false). Default: stream.isTTY. */
  tty?: boolean;
  /** Seconds between plain lines when not a TTY (default 10). */
  intervalS?: number;
  /** false prints nothing at all (--quiet). Default true. */
  enabled?: boolean;
  /** Clock in milliseconds (tests inject one); default Date.now. */
  now?: () => number;
  /** Width of the bar in characters (default 24). */
  barWidth?: number;
  /** Sliding window for the images/s estimate, seconds (default 30). */
  rateWindowS?: number;
}

/** What a progress line shows. */
export interface ProgressState {
  title: string;          // e.g. "epoch 1/2" or "evaluate test"
  done: number;           // images done in this bar
  total: number;          // images in this bar
  ratePerS: number;       // images/s (NaN when unknown)
  etaS: number;           // seconds left (NaN when unknown)
  taskLoss?: number;
  attLoss?: number;
}

export interface EpochSummary {
  phase?: 1 | 2;
  epoch: number;
  nEpochs: number;
  images: number;
  seconds: number;
  taskLoss?: number;      // epoch mean
  attLoss?: number;       // epoch mean
  accuracy?: number;      // validation accuracy 0..1
  iou?: number;           // validation mean IoU 0..1
  best?: boolean;         // this epoch's checkpoint is the new best
  checkpoint?: string;    // checkpoint name written after the epoch
}

/** "12s", "4m05s", "1h02m", "--" when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** "123 img/s", "12.3 img/s", "1.23 img/s", "-- img/s" when unknown. */
export function formatRate(ratePerS: number, unit = 'img'): string {
  if (!Number.isFinite(ratePerS) || ratePerS < 0) return `-- ${unit}/s`;
  const digits = ratePerS >= 100 ? 0 : ratePerS >= 10 ? 1 : 2;
  return `${ratePerS.toFixed(digits)} ${unit}/s`;
}

/** Four decimals ("0.6931"), exponent below 1e-3 ("1.23e-5"), "-" when absent. */
export function formatLoss(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return '-';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x !== 0 && Math.abs(x) < 1e-3) return x.toExponential(2);
  return x.toFixed(4);
}

/** "0.625" for a ratio, "-" when absent. */
export function formatRatio(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  return x.toFixed(3);
}

/** A bar of `width` characters, `fraction` (clamped to 0..1) of them filled. */
export function renderBar(fraction: number, width: number, full = '#', empty = '-'): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const n = Math.round(f * width);
  return full.repeat(n) + empty.repeat(width - n);
}

/** The percentage (0..100, floor) of done/total; 100 when total is 0. */
export function percent(done: number, total: number): number {
  if (total <= 0) return 100;
  return Math.min(100, Math.max(0, Math.floor((100 * done) / total)));
}

/**
 * One progress line: `epoch 1/2 [#####-----]  50% 16/32 img | 12.3 img/s | task 0.6931 | att 0.0000 | ETA 4s`.
 * Without a bar width the bracketed bar is left out (plain log lines).
 */
export function formatProgressLine(s: ProgressState, barWidth = 0, full = '#', empty = '-'): string {
  const pct = `${String(percent(s.done, s.total)).padStart(3)}%`;
  const bar = barWidth > 0 ? ` [${renderBar(s.total > 0 ? s.done / s.total : 1, barWidth, full, empty)}]` : '';
  const parts = [`${s.title}${bar} ${pct} ${s.done}/${s.total} img`, formatRate(s.ratePerS)];
  if (s.taskLoss !== undefined) parts.push(`task ${formatLoss(s.taskLoss)}`);
  if (s.attLoss !== undefined) parts.push(`att ${formatLoss(s.attLoss)}`);
  parts.push(`ETA ${formatDuration(s.etaS)}`);
  return parts.join(' | ');
}

/** `epoch 1/2 done in 12s: 32 img, 2.67 img/s, task 0.6931, att 0.0000, val acc 0.625, val IoU 0.412, saved model_out (best)`. */
export function formatEpochSummary(e: EpochSummary): string {
  const rate = e.seconds > 0 ? e.images / e.seconds : NaN;
  const parts = [`${e.images} img`, formatRate(rate)];
  if (e.taskLoss !== undefined) parts.push(`task ${formatLoss(e.taskLoss)}`);
  if (e.attLoss !== undefined) parts.push(`att ${formatLoss(e.attLoss)}`);
  if (e.accuracy !== undefined) parts.push(`val acc ${formatRatio(e.accuracy)}`);
  if (e.iou !== undefined) parts.push(`val IoU ${formatRatio(e.iou)}`);
  if (e.checkpoint !== undefined) parts.push(`saved ${e.checkpoint}${e.best ? ' (best)' : ''}`);
  else if (e.best) parts.push('best so far');
  const phase = e.phase !== undefined ? `phase ${e.phase} ` : '';
  return `${phase}epoch ${e.epoch}/${e.nEpochs} done in ${formatDuration(e.seconds)}: ${parts.join(', ')}`;
}

/**
 * Throughput and ETA of one bar from the clock readings of its updates.
 * rate: images/s over the sliding window; eta: (total - done) / rate.
 */
export class BarClock {
  private readonly meter: RateMeter;
  constructor(windowS = 30) {
    this.meter = new RateMeter(windowS);
  }
  start(tS: number): void {
    this.meter.reset();
    this.meter.add(tS, 0);
  }
  update(tS: number, done: number, total: number): { ratePerS: number; etaS: number } {
    this.meter.add(tS, done);
    const ratePerS = this.meter.rate();
    return { ratePerS, etaS: etaSeconds(total - done, ratePerS) };
  }
}

export class ProgressDisplay {
  readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly intervalMs: number;
  private readonly enabled: boolean;
  private readonly now: () => number;
  private readonly barWidth: number;
  private readonly clock: BarClock;
  private bar: cliProgress.SingleBar | null = null;
  private state: ProgressState | null = null;
  private startMs = 0;
  private lastPlainMs = 0;

  constructor(opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? this.stream.isTTY === true;
    this.intervalMs = (opts.intervalS ?? 10) * 1000;
    this.enabled = opts.enabled ?? true;
    this.now = opts.now ?? Date.now;
    this.barWidth = opts.barWidth ?? 24;
    this.clock = new BarClock(opts.rateWindowS ?? 30);
  }

  /** Start a bar over `total` images (an epoch, or an evaluation). */
  start(title: string, total: number): void {
    this.stopBar();
    this.startMs = this.now();
    this.lastPlainMs = this.startMs;
    this.clock.start(this.startMs / 1000);
    this.state = { title, done: 0, total, ratePerS: NaN, etaS: NaN };
    if (!this.enabled || !this.tty) return;
    const width = this.barWidth;
    this.bar = new cliProgress.SingleBar({
      stream: this.stream as NodeJS.WritableStream,
      format: (_o: unknown, _p: unknown, payload: { line?: string }) => payload.line ?? '',
      hideCursor: true,
      clearOnComplete: true,
      linewrap: false,
      fps: 5,
      barsize: width,
    });
    this.bar.start(Math.max(1, total), 0, { line: formatProgressLine(this.state, width, '\u2588', '\u2591') });
  }

  startEpoch(e: { epoch: number; nEpochs: number; totalImages: number; phase?: 1 | 2 }): void {
    const phase = e.phase !== undefined ? `phase ${e.phase} ` : '';
    this.start(`${phase}epoch ${e.epoch}/${e.nEpochs}`, e.totalImages);
  }

  /** `done`: images done so far in this bar (cumulative); losses of the latest step. */
  update(u: { done: number; taskLoss?: number; attLoss?: number }): void {
    const s = this.state;
    if (!s) return;
    const t = this.now();
    const { ratePerS, etaS } = this.clock.update(t / 1000, u.done, s.total);
    s.done = u.done;
    s.ratePerS = ratePerS;
    s.etaS = etaS;
    if (u.taskLoss !== undefined) s.taskLoss = u.taskLoss;
    if (u.attLoss !== undefined) s.attLoss = u.attLoss;
    if (!this.enabled) return;
    if (this.bar) {
      this.bar.update(Math.min(s.done, Math.max(1, s.total)), { line: formatProgressLine(s, this.barWidth, '\u2588', '\u2591') });
    } else if (t - this.lastPlainMs >= this.intervalMs) {
      this.lastPlainMs = t;
      this.stream.write(`${formatProgressLine(s)}\n`);
    }
  }

  /** Seconds since the current bar started. */
  elapsedS(): number {
    return (this.now() - this.startMs) / 1000;
  }

  /** Ends the epoch's bar and prints its summary line (seconds default to the bar's elapsed time). */
  endEpoch(summary: Omit<EpochSummary, 'seconds'> & { seconds?: number }): string {
    const line = formatEpochSummary({ ...summary, seconds: summary.seconds ?? this.elapsedS() });
    this.finish(line);
    return line;
  }

  /** Ends the current bar; prints `line` (if given) as a permanent line. */
  finish(line?: string): void {
    this.stopBar();
    this.state = null;
    if (this.enabled && line !== undefined) this.stream.write(`${line}\n`);
  }

  /** Prints a line without disturbing the bar. */
  log(line: string): void {
    if (!this.enabled) return;
    if (this.bar && this.state) {
      this.bar.stop();
      this.stream.write(`${line}\n`);
      this.bar.start(Math.max(1, this.state.total), Math.min(this.state.done, Math.max(1, this.state.total)), { line: formatProgressLine(this.state, this.barWidth, '\u2588', '\u2591') });
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  private stopBar(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
  }
}

/** The progress display as an observer of the run loop. */
export function progressObserver(display: ProgressDisplay): RunObserver {
  return {
    log: (line) => display.log(line),
    epochStart: (e) => display.startEpoch(e),
    step: (s) => display.update({ done: s.doneImages, taskLoss: s.epochTaskLoss, attLoss: s.epochAttLoss }),
    epochEnd: (e) => {
      const r = e.record;
      display.endEpoch({
        phase: e.phase, epoch: r.epoch, nEpochs: e.nEpochs, images: r.images, seconds: r.seconds,
        taskLoss: r.taskLoss, attLoss: e.phase === 2 ? r.attLoss : undefined,
        accuracy: r.accuracy, iou: r.iou ?? undefined, best: e.best, checkpoint: e.written.join(', ') || undefined,
      });
    },
    runEnd: () => display.finish(),
  };
}
