// GradiaBnApply: y = (x - mean) / sqrt(variance + eps) * gamma + beta, optionally followed by ReLU.
// Its gradient is GradiaBnBackward (beside), wired by src/backend/fused/batch_norm.ts.
import { GRADIA_BN_APPLY } from '../../kernel_names.js';
import { addon, customKernel, empty, need, out } from './shared.js';
import { rowsC } from './GradiaBnStats.js';

export const gradiaBnApplyConfig = customKernel(GRADIA_BN_APPLY, ({ inputs: i, backend, attrs }) => {
  const [rows, C] = rowsC(i.x.shape);
  const y = empty(rows * C);
  const at = attrs as unknown as { eps: number; relu?: boolean };
  addon().bnApply(need(backend, i.x, 'bnApply x'), rows, C, need(backend, i.mean, 'bnApply mean'), need(backend, i.variance, 'bnApply variance'),
    need(backend, i.gamma, 'bnApply gamma'), need(backend, i.beta, 'bnApply beta'), at.eps, y, Boolean(at.relu));
  return out(backend, i.x.shape, y);
});
