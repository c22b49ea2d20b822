// GradiaBnBackward: the gradient of training-mode batch norm (statistics and apply together) w.r.t.
// x, gamma and beta; with reluOut (a fused BN+ReLU's output) dy is masked by reluOut > 0 first.
import { GRADIA_BN_BACKWARD } from '../../kernel_names.js';
import { addon, customKernel, empty, need, out } from './shared.js';
import { rowsC } from './GradiaBnStats.js';

export const gradiaBnBackwardConfig = customKernel(GRADIA_BN_BACKWARD, ({ inputs: i, backend, attrs }) => {
  const [rows, C] = rowsC(i.x.shape);
  const dx = empty(rows * C);
  const dgamma = new Float32Array(C);
  const dbeta = new Float32Array(C);
  addon().bnBackward(need(backend, i.dy, 'bnBackward dy'), need(backend, i.x, 'bnBackward x'), rows, C, need(backend, i.mean, 'bnBackward mean'),
    need(backend, i.variance, 'bnBackward variance'), need(backend, i.gamma, 'bnBackward gamma'), (attrs as unknown as { eps: number }).eps,
    dx, dgamma, dbeta, i.reluOut ? need(backend, i.reluOut, 'bnBackward reluOut') : null);
  return [out(backend, i.x.shape, dx), out(backend, [C], dgamma), out(backend, [C], dbeta)];
});
