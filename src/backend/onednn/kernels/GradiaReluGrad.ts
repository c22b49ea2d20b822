// GradiaReluGrad: dx = dy where y > 0, else 0, in one native pass (tfjs's ReLU gradient is
// step + cast + multiply). The gradient of GradiaAddRelu and of onednnRelu (tests/helpers/onednn_ops.ts).
import { GRADIA_RELU_GRAD } from '../../kernel_names.js';
import { addon, customKernel, empty, need, out, size } from './shared.js';

export const gradiaReluGradConfig = customKernel(GRADIA_RELU_GRAD, ({ inputs, backend }) => {
  const { dy, y } = inputs;
  const n = size(y.shape);
  const dx = empty(n);
  addon().reluGrad(need(backend, dy, 'reluGrad dy'), need(backend, y, 'reluGrad y'), dx, n);
  return out(backend, y.shape, dx);
});
