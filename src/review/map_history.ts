/**
 * The map editor's document: the current mask and per-stroke undo/redo. Every edit (a
 * brush or eraser stroke from press to release, a polygon, a fill, a clear, a new start)
 * is one step. Pure: the page runs it, the tests drive it directly.
 */
import { copyMask, type Mask } from './raster.js';

export class MapHistory {
  private readonly undoStack: Uint8Array[] = [];
  private readonly redoStack: Uint8Array[] = [];
  private before: Uint8Array | null = null;

  constructor(readonly mask: Mask) {}

  /** Starts a step; edits then change `mask` in place until `commit`. */
  begin(): void {
    if (this.before === null) this.before = this.mask.data.slice();
  }

  /** Ends the step begun last; a step that changed nothing is not kept. */
  commit(): void {
    const before = this.before;
    this.before = null;
    if (!before || sameBytes(before, this.mask.data)) return;
    this.undoStack.push(before);
    this.redoStack.length = 0;
  }

  /** One whole step: `edit` changes the mask. */
  step(edit: (m: Mask) => void): void {
    this.begin();
    edit(this.mask);
    this.commit();
  }

  /** Replaces the whole mask as one step (start from a map, clear). */
  replace(data: Uint8Array): void {
    this.step((m) => m.data.set(data));
  }

  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  undo(): boolean {
    return this.restore(this.undoStack, this.redoStack);
  }

  redo(): boolean {
    return this.restore(this.redoStack, this.undoStack);
  }

  /** Takes the mask from the top of `from`, keeping the current one on `to`. */
  private restore(from: Uint8Array[], to: Uint8Array[]): boolean {
    const data = from.pop();
    if (!data) return false;
    to.push(this.mask.data.slice());
    this.mask.data.set(data);
    return true;
  }

  snapshot(): Mask {
    return copyMask(this.mask);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
