// The watchdog's verdict when a collective outlives --step-timeout: who is named and which
// one rank prints it, on hand-made observations (arrival counters, heartbeat silences, the
// rank's own pause). Includes the race a SIGSTOPped rank meets when it is continued: its
// watchdog timer fires before its MPI thread has noticed the pause.
import { describe, expect, it } from 'vitest';
import { stallVerdict, type StallObservation } from '../src/coordinator/stall_verdict.js';

const ranks = [0, 1, 2].map((rank) => ({ rank, host: `h${rank}`, pid: 100 + rank }));
const base = (o: Partial<StallObservation>): StallObservation => ({
  what: 'step 4 (epoch 1)', timeoutS: 15, lateS: 0, rank: 0, ranks, arrivals: [4, 4, 4], silences: [0, 1, 1], pausedRecently: false, ...o,
});

describe('stallVerdict', () => {
  it('a silent rank is named as stopped; the first rank still running reports, the others stay quiet', () => {
    const seen = { arrivals: [4, 3, 4], silences: [0, 16.4, 0.5] };
    const v0 = stallVerdict(base({ ...seen, rank: 0 }));
    expect(v0).toEqual({
      message: 'step 4 (epoch 1) did not finish within 15 s (--step-timeout): rank 1 (host h1, pid 101) stopped responding (no heartbeat for 16 s: stopped, hung or cut off); ranks 0 (h0), 2 (h2) waited; aborting the job (MPI_Abort)',
      report: true,
    });
    expect(stallVerdict(base({ ...seen, rank: 2, silences: [0.5, 16.4, 0] })).report).toBe(false);
  });

  it('a rank that has not arrived (heartbeat alive) is named as late; the first rank that arrived reports', () => {
    const v = stallVerdict(base({ rank: 1, arrivals: [3, 4, 4] }));
    expect(v).toEqual({
      message: 'step 4 (epoch 1): rank 0 (host h0, pid 100) did not arrive within 15 s (--step-timeout); ranks 1 (h1), 2 (h2) arrived and waited; aborting the job (MPI_Abort)',
      report: true,
    });
    expect(stallVerdict(base({ rank: 2, arrivals: [3, 4, 4] })).report).toBe(false);
    // the late rank itself sees nobody behind it: "every rank reached it", and only rank 0 reports that
    expect(stallVerdict(base({ rank: 0, arrivals: [3, 4, 4] })).message).toMatch(/every rank reached it/);
  });

  it('everyone arrived and heartbeats are alive: it did not complete; rank 0 reports', () => {
    expect(stallVerdict(base({ rank: 0 })).report).toBe(true);
    expect(stallVerdict(base({ rank: 1, silences: [1, 0, 1] }))).toEqual({
      message: 'step 4 (epoch 1) did not finish within 15 s (--step-timeout): every rank reached it (0 (h0), 1 (h1), 2 (h2)) but it did not complete (a rank stalled inside it, or a link is down); aborting the job (MPI_Abort)',
      report: false,
    });
  });

  it('a rank that was itself paused says nothing about the others and stays quiet, also when its timer fires before its MPI thread noticed', () => {
    // continued after a SIGSTOP: everyone else looks silent from here, since this process received nothing meanwhile
    const stale = { rank: 1, arrivals: [4, 4, 4], silences: [40, 0, 40] };
    expect(stallVerdict(base({ ...stale, pausedRecently: true }))).toEqual({ message: 'step 4 (epoch 1): rank 1 (host h1, pid 101) was itself paused; aborting the job (MPI_Abort)', report: false });
    // the MPI thread has not polled since the pause yet; the timer fired 25 s after its time
    expect(stallVerdict(base({ ...stale, lateS: 25 })).report).toBe(false);
    // a timer a little late (a busy machine) is no pause
    expect(stallVerdict(base({ ...stale, lateS: 1 })).report).toBe(true);
  });
});

describe('stallVerdict at the start of the job', () => {
  it('names a rank that has not reported its host yet without a made-up pid', () => {
    const early = [{ rank: 0, host: 'h0', pid: 100 }, { rank: 1, host: 'not reported yet', pid: 0 }];
    const v = stallVerdict(base({ ranks: early, arrivals: [1, 0], silences: [0, 1] }));
    expect(v.message).toBe('step 4 (epoch 1): rank 1 (host not reported yet) did not arrive within 15 s (--step-timeout); rank 0 (h0) arrived and waited; aborting the job (MPI_Abort)');
  });
});
