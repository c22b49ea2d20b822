// The robust objectives' first pass: every micro-batch's normalised Grad-CAM for its true
// class, computed as the loss pass will compute it (training-mode forward, the same
// micro-batches, so the same batch-norm statistics) but without a gradient tape. The BN
// running buffers it moves are put back: the loss pass updates them once, as always.
import { tf } from '../../backend/tf.js';
import { gradCam, minMaxNormalise } from '../gradcam.js';
import { readBuffers, writeBuffers } from '../flat.js';
import { forward } from '../resnet.js';
import type { CamMode, Model, TrainBatch } from '../types.js';

/** n*G*G normalised cams of each micro-batch's samples, in order. */
export function trainingCams(model: Model, microBatches: TrainBatch[], opts: { cam: CamMode; freezeBn?: boolean }): Float32Array[] {
  const saved = opts.freezeBn ? null : readBuffers(model);
  try {
    return microBatches.map((mb) => {
      const cam = tf.tidy(() => {
        const x = tf.tensor4d(mb.images, [mb.n, mb.size, mb.size, 3]);
        const { features } = forward(model, x, { training: true, freezeBn: opts.freezeBn });
        const onehot = tf.oneHot(tf.tensor1d(mb.labels, 'int32'), model.numClasses).toFloat() as tf.Tensor2D;
        return minMaxNormalise(gradCam(model, features, onehot, opts.cam));
      });
      const out = cam.dataSync() as Float32Array;
      cam.dispose();
      return Float32Array.from(out);
    });
  } finally {
    if (saved) writeBuffers(model, saved);
  }
}
