// One micro-batch's gradient by segments with recomputation (activation checkpointing).
//
// A tape over the whole network keeps every tensor each op saved for its gradient until the
// backward pass ends: for ResNet-50 at 224 px and 16 images, 4.6 GB, as much as PyTorch's whole
// process. Here the forward pass runs without a tape and keeps only each backbone segment's
// output (the stem and every residual block: backboneSegments in resnet.ts); the backward pass
// walks the segments in reverse, recomputing one segment's forward under a tape of its own and
// backpropagating the upstream gradient through it, then freeing all of it before the next.
// The head (pool, fc, task loss, Grad-CAM attention loss) is the last segment.
//
// Each segment's tape holds the same ops, in the same order, on the same values as that part
// of the whole-network tape, and every tensor that collects gradient from several ops (a
// block's input: its first conv and its shortcut) lies inside one segment, so each gradient is
// the same float32 computation as with one tape: bit for bit equal (tests/recompute.test.ts
// checks it against the whole-network path). Batch norm updates its running buffers in the
// first forward only ('train'); the recomputation uses batch statistics without updating
// ('replay'), so a step counts each micro-batch once, as torch does.
import { tf } from '../backend/tf.js';
import { gradiaLoss, type LossInputs } from './losses.js';
import { backboneSegments, checkInput, type BnMode } from './resnet.js';
import type { GradOptions, Model, Normaliser } from './types.js';

/** Receives each parameter's gradient (model.params key); the tensor is disposed after the call. */
export type GradSink = (param: string, grad: tf.Tensor) => void;

/** Gradients of `f` for `xs` scaled by `dy` (none: f is a scalar), with f's value; a gradient is null where f does not depend on that x. */
function gradientsOf(f: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor | null): { value: tf.Tensor; grads: (tf.Tensor | null)[] } {
  const r = tf.engine().gradients(f, xs, dy ?? undefined, true);
  return { value: r.value, grads: r.grads as (tf.Tensor | null)[] };
}

/** Params of the model that no backbone segment reads (fc, and whatever else the loss uses). */
function headParams(model: Model): string[] {
  const inBackbone = new Set(backboneSegments(model.arch).flatMap((s) => s.params));
  return [...model.params.keys()].filter((name) => !inBackbone.has(name));
}

/**
 * Forward + backward of the GRADIA loss (losses.ts) for one micro-batch `inp` (x: its images),
 * handing each parameter's gradient to `sink` (head first, then the backbone from its last
 * block to the stem). Returns the loss sums. Training-mode batch norm (no `freezeBn`) updates
 * the running buffers once.
 */
export function recomputedGradients(model: Model, inp: LossInputs, norm: Normaliser, opts: GradOptions, sink: GradSink): { taskSum: number; attSum: number } {
  checkInput(inp.x);
  const segments = backboneSegments(model.arch);
  const forwardBn: BnMode = opts.freezeBn ? 'eval' : 'train';
  const replayBn: BnMode = opts.freezeBn ? 'eval' : 'replay';
  // kept[i] = input of segment i; kept[segments.length] = the layer4 features
  const kept: tf.Tensor4D[] = [inp.x];
  let dy: tf.Tensor | null = null;
  const emit = (names: string[], grads: (tf.Tensor | null)[]) => {
    names.forEach((name, i) => {
      const g = grads[i];
      if (g) {
        try { sink(name, g); } finally { g.dispose(); }
      }
    });
  };
  try {
    for (const seg of segments) kept.push(seg.run(model, kept[kept.length - 1], { bn: forwardBn, scoped: true }));

    // the head: loss from the features, gradients for the features and the head's params
    const feats = kept[segments.length];
    const hp = headParams(model);
    let taskSum: tf.Scalar | null = null;
    let attSum: tf.Scalar | null = null;
    let sums: { taskSum: number; attSum: number };
    try {
      const r = gradientsOf(() => {
        const l = gradiaLoss(model, { ...inp, features: feats }, norm, opts);
        taskSum = tf.keep(l.taskSum);
        attSum = tf.keep(l.attSum);
        return l.loss;
      }, [feats, ...hp.map((p) => model.params.get(p)!)], null);
      r.value.dispose();
      dy = r.grads[0];
      emit(hp, r.grads.slice(1));
      sums = { taskSum: (taskSum as unknown as tf.Scalar).dataSync()[0], attSum: (attSum as unknown as tf.Scalar).dataSync()[0] };
    } finally {
      (taskSum as tf.Scalar | null)?.dispose();
      (attSum as tf.Scalar | null)?.dispose();
    }

    // the backbone, last block first; a segment's output is freed once its gradient is used
    for (let s = segments.length - 1; s >= 0 && dy; s--) {
      const seg = segments[s];
      const input = kept[s];
      const params = seg.params.map((p) => model.params.get(p)!);
      // the images need no gradient (the whole-network tape does not compute one either)
      const xs = s > 0 ? [input, ...params] : params;
      const r = gradientsOf(() => seg.run(model, input, { bn: replayBn, scoped: false }), xs, dy);
      r.value.dispose();
      dy.dispose();
      dy = s > 0 ? r.grads[0] : null;
      emit(seg.params, s > 0 ? r.grads.slice(1) : r.grads);
      kept[s + 1].dispose();
    }
    return sums;
  } finally {
    dy?.dispose();
    // kept[0] is the caller's; the others not freed yet (an error part-way) go here
    for (let i = 1; i < kept.length; i++) if (!kept[i].isDisposed) kept[i].dispose();
  }
}
