// The robust objectives' per-step exchange (RES-G, RES-L; docs/objectives.md): each replica
// computes its attention samples' normalised cams without a gradient, the replicas all-gather
// (index, weight, cam, label) of every attention sample through the ring (two all-reduces of
// zero-padded vectors: the counts, then the records at each rank's offset; adding zeros is
// exact, so this is a gather), and each derives the same RobustConstants from the whole
// global batch: 1 and N replicas see the same samples, so they get the same threshold.
import type { AllReducer } from '../comm/ring.js';
import { trainingCams } from '../model/objectives/cam_pass.js';
import { packRecords, recordLength, robustConstants, unpackRecords, type RobustRecord } from '../model/objectives/robust.js';
import type { RobustConstants } from '../model/objectives/types.js';
import type { CamMode, Model, TrainBatch } from '../model/types.js';

export interface RobustPassInput {
  model: Model;
  /** the replicas' all-reduce (the ring, or MPI under a launcher) and this replica's place in it */
  ring: AllReducer;
  rank: number;
  world: number;
  microBatches: TrainBatch[];
  /** training-set index of each sample of the shard, in micro-batch order */
  indices: number[];
  grid: number;
  globalAttCount: number;
  eta: number;
  cam: CamMode;
  freezeBn?: boolean;
}

export interface RobustPassResult {
  constants: RobustConstants;
  /** floats this rank put into the two collectives, and their bytes on the wire */
  bytesSent: number;
}

export async function robustPass(p: RobustPassInput): Promise<RobustPassResult> {
  const { grid, ring, rank, world } = p;
  const gg = grid * grid;
  const cams = p.microBatches.length ? trainingCams(p.model, p.microBatches, { cam: p.cam, freezeBn: p.freezeBn }) : [];
  const mine: RobustRecord[] = [];
  let at = 0;
  p.microBatches.forEach((mb, k) => {
    for (let i = 0; i < mb.n; i++, at++) {
      if (!(mb.attWeight[i]! > 0)) continue;
      mine.push({ index: p.indices[at]!, weight: mb.attWeight[i]!, cam: cams[k]!.subarray(i * gg, (i + 1) * gg), label: mb.targets.subarray(i * gg, (i + 1) * gg) });
    }
  });
  const counts = new Float32Array(world);
  counts[rank] = mine.length;
  const s1 = await ring.allReduce(counts);
  let offset = 0;
  let total = 0;
  for (let r = 0; r < world; r++) {
    if (r < rank) offset += counts[r]!;
    total += counts[r]!;
  }
  const len = recordLength(grid);
  const vec = new Float32Array(total * len);
  packRecords(mine, grid, vec, offset * len);
  const s2 = await ring.allReduce(vec);
  const constants = robustConstants(unpackRecords(vec, grid, total), p.globalAttCount, p.eta);
  return { constants, bytesSent: s1.bytesSent + s2.bytesSent };
}
