// Which checkpoints a run writes, and when: the resumable `_last` every N steps and at each
// epoch end; per epoch `<name>_<epoch>` in phase 2; the best epoch by validation accuracy
// (phase 1, `<name>`) or IoU (phase 2, `<name>_best`).
import type { CheckpointMeta, EpochRecord } from './checkpoint.js';

export type Best = CheckpointMeta['best'];

export class CheckpointPolicy {
  readonly last: string;
  readonly bestName: string;
  private readonly perEpoch: ((epoch: number) => string) | null;
  readonly metric: 'accuracy' | 'iou';

  constructor(phase: 1 | 2, modelName: string, private readonly every: number, public best: Best = null) {
    this.last = phase === 1 ? `${modelName}_last` : `${modelName}_p2_last`;
    this.bestName = phase === 1 ? modelName : `${modelName}_best`;
    this.perEpoch = phase === 1 ? null : (e) => `${modelName}_${e}`;
    this.metric = phase === 1 ? 'accuracy' : 'iou';
  }

  /** Is a mid-epoch `_last` due after this step? (The epoch's end writes one anyway.) */
  midEpochDue(step: number, lastSavedStep: number, batchIndex: number, stepsInEpoch: number): boolean {
    return this.every > 0 && step - lastSavedStep >= this.every && batchIndex + 1 < stepsInEpoch;
  }

  /**
   * The checkpoints an epoch's end writes, in order, each with the `best` it records:
   * the per-epoch one (with the best before this epoch), the new best if it is one, and `_last`.
   */
  endOfEpoch(record: EpochRecord): { name: string; best: Best; resumable: boolean }[] {
    const value = this.metric === 'accuracy' ? record.accuracy : (record.iou ?? 0);
    const writes: { name: string; best: Best; resumable: boolean }[] = [];
    if (this.perEpoch) writes.push({ name: this.perEpoch(record.epoch), best: this.best, resumable: false });
    if (this.best === null || value > this.best.value) {
      this.best = { metric: this.metric, value, name: this.bestName, epoch: record.epoch };
      writes.push({ name: this.bestName, best: this.best, resumable: false });
    }
    writes.push({ name: this.last, best: this.best, resumable: true });
    return writes;
  }
}
