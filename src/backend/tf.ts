// The one place tfjs is imported. '@tensorflow/tfjs' registers every gradient and the
// pure-JS cpu backend; the WASM backend registers itself on import. Everyone imports
// `tf` from here so that all modules share one tfjs-core instance.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export { tf };
export type Tensor = tf.Tensor;
export type Variable = tf.Variable;
