// RES-L's imputation networks: a learned map h from the full-resolution positive mask
// (and, for S2/D2, the image) to the G x G grid. Their variables join the model's
// parameters (after fc, under RES's module names), so they get gradients, are all-reduced
// in the same flat vector, stepped by the same Adam, checkpointed and covered by the
// replicas' checksum like every other weight.
import { tf } from '../../backend/tf.js';
import { conv2d } from '../conv.js';
import { fillUniform, specRng, torchToTf } from '../resnet.js';
import type { Model, TensorSpec } from '../types.js';
import type { ImputationKind, ImputationParams } from './types.js';

interface ConvDef { key: string; cin: number; cout: number; k: number; stride: number; pad: number }

/** RES's layers (RES.py: model.imp / model.imp_conv1..5; every nn.Conv2d has a bias). */
function layers(kind: ImputationKind): ConvDef[] {
  const inC = kind === 's2' || kind === 'd2' ? 4 : 1;
  if (kind === 's1' || kind === 's2') return [{ key: 'imp', cin: inC, cout: 1, k: 64, stride: 32, pad: 16 }];
  const mid = inC; // D1: 1 channel throughout; D2: 4, the last conv 4 -> 1
  return [
    { key: 'imp_conv1', cin: inC, cout: mid, k: 7, stride: 2, pad: 3 },
    { key: 'imp_conv2', cin: mid, cout: mid, k: 3, stride: 2, pad: 1 },
    { key: 'imp_conv3', cin: mid, cout: mid, k: 3, stride: 2, pad: 1 },
    { key: 'imp_conv4', cin: mid, cout: mid, k: 3, stride: 2, pad: 1 },
    { key: 'imp_conv5', cin: mid, cout: 1, k: 3, stride: 2, pad: 1 },
  ];
}

/** Whether `name` is a key of some variant (never a torchvision key). */
export const isImputationKey = (name: string): boolean => /^imp(_conv[1-5])?\.(weight|bias)$/.test(name);

/** The imputation network's tensors (weight in conv layout, bias 1-D), in parameter order. */
export function imputationSpecs(kind: ImputationKind): TensorSpec[] {
  const out: TensorSpec[] = [];
  for (const l of layers(kind)) {
    out.push({ name: `${l.key}.weight`, kind: 'conv', shape: [l.k, l.k, l.cin, l.cout], torchShape: [l.cout, l.cin, l.k, l.k], isBuffer: false });
    out.push({ name: `${l.key}.bias`, kind: 'fc_bias', shape: [l.cout], torchShape: [l.cout], isBuffer: false });
  }
  return out;
}

/** torch's nn.Conv2d default init, U(+-1/sqrt(fan_in)) for weight and bias, deterministic from `seed`. */
function initTorch(spec: TensorSpec, fanIn: number, seed: number): Float32Array {
  const n = spec.torchShape.reduce((a, b) => a * b, 1);
  return fillUniform(new Float32Array(n), specRng(seed, `imputation/${spec.name}`), fanIn);
}

let netCounter = 0;

/**
 * Adds the imputation network's variables to `model.params` (after fc; not to model.specs,
 * which stays torchvision's state_dict) and returns them.
 */
export function attachImputation(model: Model, kind: ImputationKind, seed: number): ImputationParams {
  const vars = new Map<string, tf.Variable>();
  const defs = layers(kind);
  imputationSpecs(kind).forEach((s, i) => {
    if (model.params.has(s.name)) throw new Error(`attachImputation: the model already has '${s.name}'`);
    const l = defs[i >> 1]!;
    const data = torchToTf(s, initTorch(s, l.cin * l.k * l.k, seed));
    const v = tf.variable(tf.tensor(data, s.shape, 'float32'), true, `imputation${++netCounter}/${s.name}`);
    model.params.set(s.name, v);
    vars.set(s.name, v);
  });
  return { kind, vars };
}

/**
 * h before normalisation [n, G, G]: the network applied to the masks [n, S, S] (0/1) and,
 * for S2/D2, the images [n, S, S, 3] as three more input channels after the mask.
 */
export function imputationForward(p: ImputationParams, masks: Float32Array, images: tf.Tensor4D): tf.Tensor3D {
  const [n, S] = images.shape;
  let x: tf.Tensor4D = tf.tensor4d(masks, [n, S, S, 1]);
  if (p.kind === 's2' || p.kind === 'd2') x = tf.concat([x, images], 3) as tf.Tensor4D;
  const defs = layers(p.kind);
  defs.forEach((l, i) => {
    const w = p.vars.get(`${l.key}.weight`)! as unknown as tf.Tensor4D;
    const b = p.vars.get(`${l.key}.bias`)!;
    x = tf.add(conv2d(x, w, l.stride, l.pad), b) as tf.Tensor4D;
    if (i < defs.length - 1) x = tf.relu(x);
  });
  const [, g] = x.shape;
  return tf.reshape(x, [n, g, g]) as tf.Tensor3D;
}
