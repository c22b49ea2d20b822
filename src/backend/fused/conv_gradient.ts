// Which convolution gradient the model's conv2d uses on the active backend.
import { tf } from '../tf.js';

/** Backends whose own Conv2DBackpropInput / Conv2DBackpropFilter kernels are native and fast. WASM
 *  has no Conv2DBackpropFilter and a scalar Conv2DBackpropInput, and the cpu backend's are JS loops:
 *  there the model builds the gradient from forward convolutions (src/model/conv.ts). */
const NATIVE_CONV_GRADIENT_BACKENDS: ReadonlySet<string> = new Set(['onednn', 'tensorflow']);

/** True when tfjs's own conv gradient (its backprop kernels) is the fast one on the active backend. */
export function nativeConvGradient(): boolean {
  return NATIVE_CONV_GRADIENT_BACKENDS.has(tf.getBackend());
}
