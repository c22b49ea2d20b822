// GradiaAddRelu: y = max(a + b, 0) for same-shape a, b (a ResNet block's residual join), one pass,
// and its gradient: GradiaReluGrad of y, the same for a and b.
import { util } from '@tensorflow/tfjs-core';
import type { GradConfig, Tensor } from '@tensorflow/tfjs-core';
import { tf } from '../../tf.js';
import { GRADIA_ADD_RELU, GRADIA_RELU_GRAD } from '../../kernel_names.js';
import { addon, customKernel, empty, need, out, size } from './shared.js';

export const gradiaAddReluConfig = customKernel(GRADIA_ADD_RELU, ({ inputs, backend }) => {
  const { a, b } = inputs;
  if (!util.arraysEqual(a.shape, b.shape)) throw new Error(`onednn addRelu: shapes differ (${a.shape} vs ${b.shape})`);
  const n = size(a.shape);
  const y = empty(n);
  addon().addRelu(need(backend, a, 'addRelu a'), need(backend, b, 'addRelu b'), y, n);
  return out(backend, a.shape, y);
});

export const gradiaAddReluGradConfig: GradConfig = {
  kernelName: GRADIA_ADD_RELU,
  outputsToSave: [true],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
    const g = tf.engine().runKernel(GRADIA_RELU_GRAD, { dy: dy as Tensor, y: saved[0] }) as Tensor;
    // two tensors: the tape disposes each input's gradient on its own
    return { a: () => g, b: () => tf.clone(g) };
  },
};
