// Whether the active backend registers a kernel: the fused ops run their Gradia kernels where it
// does and plain tfjs ops elsewhere.
import { tf } from '../tf.js';

export function hasKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}
