// relu(a + b) for same-shape a, b (a ResNet block's residual join): the GradiaAddRelu kernel (one
// pass forward, one backward; its gradient is registered beside the kernel) where the active
// backend has it, else tfjs's add and relu.
import { tf } from '../tf.js';
import { GRADIA_ADD_RELU } from '../kernel_names.js';
import { hasKernel } from './dispatch.js';

export function addRelu<R extends tf.Rank>(a: tf.Tensor<R>, b: tf.Tensor<R>): tf.Tensor<R> {
  if (hasKernel(GRADIA_ADD_RELU)) return tf.engine().runKernel(GRADIA_ADD_RELU, { a, b }) as tf.Tensor<R>;
  return tf.relu(tf.add(a, b)) as tf.Tensor<R>;
}
