// Trimming the active backend's buffer pool (only the onednn backend keeps one).
import { tf } from './tf.js';

interface TrimsPool {
  trimPool(): void;
}

/** Drops pooled buffers unused since the last call; a no-op on backends without a pool. */
export function trimBackendPool(): void {
  const be = tf.engine().findBackend(tf.getBackend()) as unknown as Partial<TrimsPool> | null;
  if (typeof be?.trimPool === 'function') be.trimPool();
}
