/**
 * What a rank says when a collective outlives --step-timeout, and whether it is the one to
 * say it (one rank speaks for the job; the others abort quietly). Pure: the MPI cluster
 * feeds it what its MPI thread has seen (arrival counters, heartbeat silences, its own
 * pauses) and how late its own watchdog timer fired.
 */

export interface StallRank {
  rank: number;
  host: string;
  pid: number;
}

export interface StallObservation {
  /** the collective, e.g. "step 12 (epoch 2)" */
  what: string;
  timeoutS: number;
  /** how much later than timeoutS this rank's watchdog timer fired (seconds) */
  lateS: number;
  rank: number;
  ranks: StallRank[];
  /** per rank: how many collectives it has announced arriving at */
  arrivals: number[];
  /** per rank: seconds since its last heartbeat (this rank's own entry is 0) */
  silences: number[];
  /** this rank's MPI thread saw its own process paused within the last timeoutS + SILENT_AFTER_S */
  pausedRecently: boolean;
}

export interface StallVerdict {
  message: string;
  report: boolean;
}

/** Heartbeats come every second: this much silence means the process is not running. */
export const SILENT_AFTER_S = 5;

export const describeRank = (r: StallRank): string => `rank ${r.rank} (host ${r.host}${r.pid ? `, pid ${r.pid}` : ''})`;
const list = (ranks: StallRank[]): string => ranks.map((r) => `${r.rank} (${r.host})`).join(', ');

export function stallVerdict(o: StallObservation): StallVerdict {
  const s = o.timeoutS;
  const me = o.ranks[o.rank]!;
  const mine = o.arrivals[o.rank]!;
  // This process was stopped itself (and continued, as the launcher does before it kills):
  // what it saw of the others is stale; the ranks that kept running speak for the job. The
  // MPI thread notes a pause at its next poll; a watchdog timer that fires this late (woken
  // before that poll) says the same from the main thread.
  if (o.lateS > SILENT_AFTER_S || o.pausedRecently) {
    return { message: `${o.what}: ${describeRank(me)} was itself paused; aborting the job (MPI_Abort)`, report: false };
  }
  // A silent rank (no heartbeat) is the cause wherever it stopped, even inside the collective.
  const silent = o.ranks.filter((r) => o.silences[r.rank]! > SILENT_AFTER_S);
  if (silent.length > 0) {
    const alive = o.ranks.filter((r) => !silent.includes(r));
    const who = silent.map((r) => `${describeRank(r)} stopped responding (no heartbeat for ${Math.round(o.silences[r.rank]!)} s: stopped, hung or cut off)`).join('; ');
    return {
      message: `${o.what} did not finish within ${s} s (--step-timeout): ${who}; rank${alive.length > 1 ? 's' : ''} ${list(alive)} waited; aborting the job (MPI_Abort)`,
      report: alive[0]?.rank === o.rank,
    };
  }
  const late = o.ranks.filter((r) => o.arrivals[r.rank]! < mine);
  const arrived = o.ranks.filter((r) => o.arrivals[r.rank]! >= mine);
  if (late.length === 0) {
    // Everyone reached it (or this rank is the late one): it did not complete.
    return {
      message: `${o.what} did not finish within ${s} s (--step-timeout): every rank reached it (${list(arrived)}) but it did not complete (a rank stalled inside it, or a link is down); aborting the job (MPI_Abort)`,
      report: o.rank === 0,
    };
  }
  return {
    message: `${o.what}: ${late.map(describeRank).join(', ')} did not arrive within ${s} s (--step-timeout); rank${arrived.length > 1 ? 's' : ''} ${list(arrived)} arrived and waited; aborting the job (MPI_Abort)`,
    report: arrived[0]?.rank === o.rank,
  };
}
