/**
 * Throughput and ETA estimation shared by the metrics exporter (run ETA) and the
 * progress display (epoch ETA). Pure: the caller passes the clock readings.
 */

/**
 * Rate of progress over a sliding window of recent (time, done) readings.
 * The window drops readings older than `windowS` seconds but always keeps the two
 * most recent ones, so a slow run still has a rate. Before two readings exist, or when
 * no time has passed, the rate is NaN (unknown), never Infinity.
 */
export class RateMeter {
  private readonly samples: Array<{ t: number; done: number }> = [];

  constructor(private readonly windowS = 30) {
    if (!(windowS > 0)) throw new RangeError(`RateMeter window must be > 0 s, got ${windowS}`);
  }

  /** Record that `done` units (cumulative) were complete at time `tS` (seconds). */
  add(tS: number, done: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last && tS < last.t) throw new RangeError(`RateMeter: time went backwards (${tS} < ${last.t})`);
    this.samples.push({ t: tS, done });
    while (this.samples.length > 2 && tS - this.samples[0]!.t > this.windowS) this.samples.shift();
  }

  /** Forget every reading (e.g. at the start of an epoch). */
  reset(): void {
    this.samples.length = 0;
  }

  /** Units per second over the window (NaN when unknown). */
  rate(): number {
    if (this.samples.length < 2) return NaN;
    const a = this.samples[0]!;
    const b = this.samples[this.samples.length - 1]!;
    const dt = b.t - a.t;
    if (dt <= 0) return NaN;
    return (b.done - a.done) / dt;
  }
}

/**
 * Seconds left for `remaining` units at `ratePerS` units/s: 0 when nothing remains,
 * NaN when the rate is unknown or not positive.
 */
export function etaSeconds(remaining: number, ratePerS: number): number {
  if (remaining <= 0) return 0;
  if (!Number.isFinite(ratePerS) || ratePerS <= 0) return NaN;
  return remaining / ratePerS;
}

/**
 * Steps left in a run of `nEpochs` epochs of `stepsPerEpoch` steps, when `stepInEpoch`
 * steps of epoch `epoch` (1-based) are done.
 */
export function remainingSteps(epoch: number, nEpochs: number, stepInEpoch: number, stepsPerEpoch: number): number {
  const left = (nEpochs - epoch) * stepsPerEpoch + (stepsPerEpoch - stepInEpoch);
  return Math.max(0, left);
}
