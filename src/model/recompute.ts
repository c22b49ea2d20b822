// One micro-batch's gradient by segments with recomputation (activation checkpointing).
//
// A tape over the whole network keeps every tensor each op saved for its gradient, and every
// gradient it computes, until the backward pass ends: for ResNet-50 at 224 px and 16 images,
// 4.6 GB, more than PyTorch's whole process. Here the forward pass through the backbone's
// segments up to layer3 (the stem and each residual block: backboneSegments in resnet.ts) runs
// without a tape and keeps only each segment's output. The rest (layer4, whose activations are
// small, then pool, fc, task loss and Grad-CAM attention loss) runs on one tape, which gives
// the gradient of the kept layer3 output; then the earlier segments are walked in reverse,
// each one's forward recomputed under a tape of its own and backpropagated with the upstream
// gradient, and all of it freed before the next.
//
// Each tape holds the same ops, in the same order, on the same values as that part of the
// whole-network tape, and every tensor that collects gradient from several ops (a block's
// input: its first conv and its shortcut) lies inside one segment, so each gradient is the same
// float32 computation as with one tape: bit for bit equal (tests/recompute.test.ts checks it
// against the whole-network path). Batch norm updates its running buffers in the first forward
// only ('train'); the recomputation uses batch statistics without updating them ('replay'), so
// a step counts each micro-batch once, as torch does.
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
 * The first backbone stage whose segments are not recomputed but stay on the head's tape.
 * layer4 (1/32 of the input side) holds a fifth of ResNet-50's forward multiply-adds and
 * tapes it at no cost in peak memory; taping layer3 as well would double the peak (ResNet-50,
 * 224 px, 16 images, live tensor bytes: 0.85 GB from here on, 0.85 GB with every segment
 * recomputed, 1.67 GB from layer3, 4.46 GB on one tape).
 */
export const TAPED_FROM_STAGE = 4;

/**
 * Forward + backward of the GRADIA loss (losses.ts) for one micro-batch `inp` (x: its images),
 * handing each parameter's gradient to `sink` (head and taped stages first, then the
 * recomputed segments from the last to the stem). Returns the loss sums. Training-mode batch
 * norm (no `freezeBn`) updates the running buffers once. `tapedFromStage`: the first backbone
 * stage kept on the head's tape (0: the whole network on one tape; 5: every segment recomputed).
 */
export function recomputedGradients(model: Model, inp: LossInputs, norm: Normaliser, opts: GradOptions, sink: GradSink,
  tapedFromStage = TAPED_FROM_STAGE): { taskSum: number; attSum: number } {
  checkInput(inp.x);
  const segments = backboneSegments(model.arch);
  const forwardBn: BnMode = opts.freezeBn ? 'eval' : 'train';
  const replayBn: BnMode = opts.freezeBn ? 'eval' : 'replay';
  // segments [0, t) are recomputed, [t, end) run on the head's tape
  let t = segments.findIndex((seg) => seg.stage >= tapedFromStage);
  if (t < 0) t = segments.length;
  // kept[i] = input of segment i (i <= t)
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
    for (let s = 0; s < t; s++) kept.push(segments[s].run(model, kept[s], { bn: forwardBn, scoped: true }));

    // the taped segments and the head: the loss, and gradients for their params and their input
    const tapedIn = kept[t];
    const tapedParams = [...segments.slice(t).flatMap((seg) => seg.params), ...headParams(model)];
    let taskSum: tf.Scalar | null = null;
    let attSum: tf.Scalar | null = null;
    let sums: { taskSum: number; attSum: number };
    try {
      const vars = tapedParams.map((p) => model.params.get(p)!);
      const r = gradientsOf(() => {
        let y = tapedIn;
        for (const seg of segments.slice(t)) y = seg.run(model, y, { bn: forwardBn, scoped: false });
        const l = gradiaLoss(model, { ...inp, features: y }, norm, opts);
        taskSum = tf.keep(l.taskSum);
        attSum = tf.keep(l.attSum);
        return l.loss;
      }, t > 0 ? [tapedIn, ...vars] : vars, null);
      r.value.dispose();
      dy = t > 0 ? r.grads[0] : null;
      emit(tapedParams, t > 0 ? r.grads.slice(1) : r.grads);
      sums = { taskSum: (taskSum as unknown as tf.Scalar).dataSync()[0], attSum: (attSum as unknown as tf.Scalar).dataSync()[0] };
    } finally {
      (taskSum as tf.Scalar | null)?.dispose();
      (attSum as tf.Scalar | null)?.dispose();
    }

    // the recomputed segments, last first; a segment's output is freed once its gradient is used
    for (let s = t - 1; s >= 0 && dy; s--) {
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
