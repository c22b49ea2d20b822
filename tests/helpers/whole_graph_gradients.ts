// Oracle for computeGradients: the GRADIA loss's gradient from one tape over the whole network
// (tf.variableGrads around gradiaLoss, forward included), as computeGradients did before it
// recomputed block by block. Same accumulation over micro-batches into a flat vector.
import { tf } from '../../src/backend/tf.js';
import { gradiaLoss, paramLayout } from '../../src/model/index.js';
import type { GradOptions, Model, Normaliser, TrainBatch } from '../../src/model/index.js';

export function wholeGraphGradients(model: Model, microBatches: TrainBatch[], norm: Normaliser, opts: GradOptions):
  { grads: Float32Array; taskLossSum: number; attLossSum: number } {
  const layout = paramLayout(model);
  const grads = new Float32Array(layout.total);
  const vars = [...model.params.values()];
  const offsetOf = new Map<string, number>();
  layout.names.forEach((name, i) => offsetOf.set(model.params.get(name)!.name, layout.offsets[i]));
  const written = new Set<number>();
  let taskLossSum = 0;
  let attLossSum = 0;
  for (const mb of microBatches) {
    const x = tf.tensor4d(mb.images, [mb.n, mb.size, mb.size, 3]);
    let taskSum: tf.Scalar | null = null;
    let attSum: tf.Scalar | null = null;
    const r = tf.variableGrads(() => {
      const l = gradiaLoss(model, { x, labels: mb.labels, predWeight: mb.predWeight, attWeight: mb.attWeight, targets: mb.targets }, norm, opts);
      taskSum = tf.keep(l.taskSum);
      attSum = tf.keep(l.attSum);
      return l.loss;
    }, vars);
    r.value.dispose();
    for (const [vname, g] of Object.entries(r.grads)) {
      const off = offsetOf.get(vname)!;
      const d = g.dataSync() as Float32Array;
      // copied, then added: 0 + (-0) would turn a first -0 into +0
      if (written.has(off)) for (let j = 0; j < d.length; j++) grads[off + j] += d[j];
      else grads.set(d, off);
      written.add(off);
      g.dispose();
    }
    taskLossSum += (taskSum as unknown as tf.Scalar).dataSync()[0];
    attLossSum += (attSum as unknown as tf.Scalar).dataSync()[0];
    (taskSum as unknown as tf.Scalar).dispose();
    (attSum as unknown as tf.Scalar).dispose();
    x.dispose();
  }
  return { grads, taskLossSum, attLossSum };
}
