// GradiaBnStats: per-channel batch mean and biased variance of a [.., C] tensor (one native pass).
// No gradient of its own: the fused batch norm (src/backend/fused/batch_norm.ts) differentiates
// statistics and apply together through GradiaBnBackward.
import { GRADIA_BN_STATS } from '../../kernel_names.js';
import { addon, customKernel, need, out, size } from './shared.js';

/** [rows, C] view of a [.., C] tensor. */
export function rowsC(shape: readonly number[]): [number, number] {
  const C = shape[shape.length - 1];
  return [size(shape) / C, C];
}

export const gradiaBnStatsConfig = customKernel(GRADIA_BN_STATS, ({ inputs, backend }) => {
  const { x } = inputs;
  const [rows, C] = rowsC(x.shape);
  const mean = new Float32Array(C);
  const variance = new Float32Array(C);
  addon().bnStats(need(backend, x, 'bnStats x'), rows, C, mean, variance);
  return [out(backend, [C], mean), out(backend, [C], variance)];
});
