// The robust objectives' first pass: every micro-batch's normalised Grad-CAM for its true
// class, computed as the loss pass will compute it (batch-statistics batch norm, the same
// micro-batches, so the same statistics) but without a gradient tape. Batch norm runs in
// 'replay' mode (resnet.ts): batch statistics, running buffers untouched, so the loss pass
// updates them once, as always ('eval' when batch norm is frozen).
import { tf } from '../../backend/tf.js';
import { gradCam, minMaxNormalise } from '../gradcam.js';
import { backboneSegments, checkInput, type SegmentMode } from '../resnet.js';
import type { CamMode, Model, TrainBatch } from '../types.js';

/** n*G*G normalised cams of each micro-batch's samples, in order. */
export function trainingCams(model: Model, microBatches: TrainBatch[], opts: { cam: CamMode; freezeBn?: boolean }): Float32Array[] {
  const mode: SegmentMode = { bn: opts.freezeBn ? 'eval' : 'replay', scoped: true };
  return microBatches.map((mb) => {
    const cam = tf.tidy(() => {
      const x = tf.tensor4d(mb.images, [mb.n, mb.size, mb.size, 3]);
      checkInput(x);
      let features = x;
      for (const seg of backboneSegments(model.arch)) {
        const inp = features;
        features = seg.run(model, inp, mode);
        if (inp !== x) inp.dispose();
      }
      const onehot = tf.oneHot(tf.tensor1d(mb.labels, 'int32'), model.numClasses).toFloat() as tf.Tensor2D;
      return minMaxNormalise(gradCam(model, features, onehot, opts.cam));
    });
    const out = cam.dataSync() as Float32Array;
    cam.dispose();
    return Float32Array.from(out);
  });
}
