// torchvision ResNet-18/34/50 (+ tiny18 / tiny50) from tfjs ops, NHWC.
import { tf } from '../backend/tf.js';
import { GradiaInputError } from '../util/errors.js';
import { fnv1a } from '../util/hash.js';
import { conv2d } from './conv.js';
import { addRelu, batchNormTrain } from '../backend/fused/index.js';
import type { ArchName, ForwardResult, Model, TensorSpec } from './types.js';
import { ARCH_NAMES } from './types.js';
import { FEATURE_STRIDE, isValidInputSize } from '../config/geometry.js';

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

interface ArchDef { block: 'basic' | 'bottleneck'; layers: [number, number, number, number]; width: number }

export const ARCHS: Record<ArchName, ArchDef> = {
  resnet18: { block: 'basic', layers: [2, 2, 2, 2], width: 64 },
  resnet34: { block: 'basic', layers: [3, 4, 6, 3], width: 64 },
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3], width: 64 },
  tiny18: { block: 'basic', layers: [1, 1, 1, 1], width: 8 },
  tiny50: { block: 'bottleneck', layers: [1, 1, 1, 1], width: 8 },
};

export function checkArch(arch: string): ArchName {
  if (!(ARCH_NAMES as readonly string[]).includes(arch)) throw new GradiaInputError(null, `unknown --arch '${arch}' (one of ${ARCH_NAMES.join(', ')})`);
  return arch as ArchName;
}

/** Channels of the layer4 output (the Grad-CAM layer) and the fc input. */
export function featureChannels(arch: ArchName): number {
  const d = ARCHS[arch];
  return d.width * 8 * (d.block === 'bottleneck' ? 4 : 1);
}

interface ConvDef { name: string; stride: number; pad: number }
interface BlockDef { prefix: string; stage: number; convs: ConvDef[]; downsample: ConvDef | null }

function blockDefs(arch: ArchName): BlockDef[] {
  const d = ARCHS[arch];
  const out: BlockDef[] = [];
  for (let l = 0; l < 4; l++) {
    for (let b = 0; b < d.layers[l]; b++) {
      const prefix = `layer${l + 1}.${b}`;
      const stride = b === 0 && l > 0 ? 2 : 1;
      const convs: ConvDef[] = d.block === 'basic'
        ? [{ name: `${prefix}.conv1`, stride, pad: 1 }, { name: `${prefix}.conv2`, stride: 1, pad: 1 }]
        : [{ name: `${prefix}.conv1`, stride: 1, pad: 0 }, { name: `${prefix}.conv2`, stride, pad: 1 }, { name: `${prefix}.conv3`, stride: 1, pad: 0 }];
      const needDown = b === 0 && (stride !== 1 || d.block === 'bottleneck' || l > 0);
      out.push({ prefix, stage: l + 1, convs, downsample: needDown ? { name: `${prefix}.downsample.0`, stride, pad: 0 } : null });
    }
  }
  return out;
}

/** One convolution of the network at a given input size (for benchmarks and profiles). */
export interface ConvLayer { name: string; inSize: number; kernel: number; inChannels: number; outChannels: number; stride: number; pad: number }

/** Every convolution in forward order, with its input's spatial size for an S x S image. */
export function convLayers(arch: ArchName, size: number): ConvLayer[] {
  const weights = new Map(tensorSpecs(arch, 1).filter((t) => t.kind === 'conv').map((t) => [t.name.replace(/\.weight$/, ''), t.shape]));
  const out: ConvLayer[] = [];
  const at = (c: ConvDef, inSize: number): number => {
    const [kernel, , inChannels, outChannels] = weights.get(c.name)!;
    out.push({ name: c.name, inSize, kernel, inChannels, outChannels, stride: c.stride, pad: c.pad });
    return Math.floor((inSize + 2 * c.pad - kernel) / c.stride) + 1;
  };
  // stem conv, then the 3x3 stride-2 max pool
  let h = Math.floor((at({ name: 'conv1', stride: 2, pad: 3 }, size) + 2 - 3) / 2) + 1;
  for (const b of blockDefs(arch)) {
    let o = h;
    for (const c of b.convs) o = at(c, o);
    if (b.downsample) at(b.downsample, h);
    h = o;
  }
  return out;
}

/** Every state_dict entry of the architecture in torchvision's order. */
export function tensorSpecs(arch: ArchName, numClasses: number): TensorSpec[] {
  const d = ARCHS[arch];
  const specs: TensorSpec[] = [];
  const conv = (name: string, kh: number, cin: number, cout: number) =>
    specs.push({ name: `${name}.weight`, kind: 'conv', shape: [kh, kh, cin, cout], torchShape: [cout, cin, kh, kh], isBuffer: false });
  const bn = (name: string, c: number) => {
    specs.push({ name: `${name}.weight`, kind: 'bn_weight', shape: [c], torchShape: [c], isBuffer: false });
    specs.push({ name: `${name}.bias`, kind: 'bn_bias', shape: [c], torchShape: [c], isBuffer: false });
    specs.push({ name: `${name}.running_mean`, kind: 'running_mean', shape: [c], torchShape: [c], isBuffer: true });
    specs.push({ name: `${name}.running_var`, kind: 'running_var', shape: [c], torchShape: [c], isBuffer: true });
    specs.push({ name: `${name}.num_batches_tracked`, kind: 'num_batches_tracked', shape: [], torchShape: [], isBuffer: true });
  };
  conv('conv1', 7, 3, d.width);
  bn('bn1', d.width);
  const exp = d.block === 'bottleneck' ? 4 : 1;
  let inplanes = d.width;
  for (let l = 0; l < 4; l++) {
    const planes = d.width * 2 ** l;
    for (let b = 0; b < d.layers[l]; b++) {
      const p = `layer${l + 1}.${b}`;
      const stride = b === 0 && l > 0 ? 2 : 1;
      if (d.block === 'basic') {
        conv(`${p}.conv1`, 3, inplanes, planes); bn(`${p}.bn1`, planes);
        conv(`${p}.conv2`, 3, planes, planes); bn(`${p}.bn2`, planes);
      } else {
        conv(`${p}.conv1`, 1, inplanes, planes); bn(`${p}.bn1`, planes);
        conv(`${p}.conv2`, 3, planes, planes); bn(`${p}.bn2`, planes);
        conv(`${p}.conv3`, 1, planes, planes * exp); bn(`${p}.bn3`, planes * exp);
      }
      if (stride !== 1 || inplanes !== planes * exp) {
        conv(`${p}.downsample.0`, 1, inplanes, planes * exp); bn(`${p}.downsample.1`, planes * exp);
      }
      inplanes = planes * exp;
    }
  }
  specs.push({ name: 'fc.weight', kind: 'fc_weight', shape: [inplanes, numClasses], torchShape: [numClasses, inplanes], isBuffer: false });
  specs.push({ name: 'fc.bias', kind: 'fc_bias', shape: [numClasses], torchShape: [numClasses], isBuffer: false });
  return specs;
}

/** Deterministic PRNG (mulberry32) with Box-Muller normals. */
export class Rng {
  private s: number;
  private spare: number | null = null;
  constructor(seed: number) { this.s = (seed >>> 0) ^ 0x6d2b79f5; }
  uniform(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  }
  normal(): number {
    if (this.spare !== null) { const v = this.spare; this.spare = null; return v; }
    const u1 = this.uniform();
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }
}

/** Name-seeded stream so that one tensor's init does not depend on the others'. */
export function specRng(seed: number, name: string): Rng {
  return new Rng((fnv1a(name) ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0);
}

/** Fills `out` with U(+-1/sqrt(fanIn)) draws from `r` (torch's fc / nn.Conv2d default init); returns it. */
export function fillUniform(out: Float32Array, r: Rng, fanIn: number): Float32Array {
  const bound = 1 / Math.sqrt(fanIn);
  for (let i = 0; i < out.length; i++) out[i] = (2 * r.uniform() - 1) * bound;
  return out;
}

/**
 * torchvision's init, deterministic from `seed`, in TORCH layout: conv kaiming_normal
 * (fan_out, relu), BN weight 1 / bias 0, running stats 0 / 1, fc U(+-1/sqrt(fan_in)).
 */
export function initTensorTorch(spec: TensorSpec, seed: number, fcFanIn: number): Float32Array {
  const n = spec.torchShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  switch (spec.kind) {
    case 'conv': {
      const [o, , kh, kw] = spec.torchShape;
      const std = Math.sqrt(2 / (o * kh * kw));
      const r = specRng(seed, spec.name);
      for (let i = 0; i < n; i++) out[i] = r.normal() * std;
      break;
    }
    case 'fc_weight':
    case 'fc_bias':
      fillUniform(out, specRng(seed, spec.name), fcFanIn);
      break;
    case 'bn_weight':
    case 'running_var':
      out.fill(1);
      break;
    default:
      break; // zeros
  }
  return out;
}

/**
 * Moves a tensor between torch and tfjs layouts (conv OIHW <-> HWIO, fc [out,in] <-> [in,out]);
 * other kinds are the same in both.
 */
function convertLayout(spec: TensorSpec, data: Float32Array, toTf: boolean): Float32Array {
  if (spec.kind !== 'conv' && spec.kind !== 'fc_weight') return data;
  const [o, i, kh = 1, kw = 1] = spec.torchShape;
  const out = new Float32Array(data.length);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
    const torchIdx = ((a * i + b) * kh + y) * kw + x;
    const tfIdx = ((y * kw + x) * i + b) * o + a;
    if (toTf) out[tfIdx] = data[torchIdx];
    else out[torchIdx] = data[tfIdx];
  }
  return out;
}

/** torch layout -> tfjs layout. */
export function torchToTf(spec: TensorSpec, data: Float32Array): Float32Array {
  return convertLayout(spec, data, true);
}

/** tfjs layout -> torch layout. */
export function tfToTorch(spec: TensorSpec, data: Float32Array): Float32Array {
  return convertLayout(spec, data, false);
}

let modelCounter = 0;

/** A fresh model with torchvision's init, deterministic from `seed`. */
export function createModel(arch: ArchName, numClasses: number, seed = 0): Model {
  checkArch(arch);
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new GradiaInputError(null, `number of classes must be a positive integer (got ${numClasses})`);
  const specs = tensorSpecs(arch, numClasses);
  const fcW = specs.find((s) => s.name === 'fc.weight')!;
  const id = ++modelCounter;
  const params = new Map<string, tf.Variable>();
  const buffers = new Map<string, tf.Variable>();
  for (const s of specs) {
    const data = torchToTf(s, initTensorTorch(s, seed, fcW.torchShape[1]));
    const v = tf.variable(tf.tensor(data, s.shape, 'float32'), !s.isBuffer, `m${id}/${s.name}`);
    (s.isBuffer ? buffers : params).set(s.name, v);
  }
  return { arch, numClasses, params, buffers, specs };
}

/** Frees the model's variables. */
export function disposeModel(model: Model): void {
  for (const v of model.params.values()) v.dispose();
  for (const v of model.buffers.values()) v.dispose();
}

/**
 * How batch norm runs. 'train': batch statistics, and the running buffers take this batch (once
 * per forward, as torch). 'replay': batch statistics, buffers untouched: a training forward run
 * again to rebuild what the backward pass needs (checkpointed gradients), which must not count the
 * batch twice. 'eval' (or frozen): the running statistics.
 */
export type BnMode = 'train' | 'replay' | 'eval';

function batchNorm(model: Model, name: string, x: tf.Tensor4D, mode: BnMode, relu = false): tf.Tensor4D {
  const gamma = model.params.get(`${name}.weight`)!;
  const beta = model.params.get(`${name}.bias`)!;
  const rm = model.buffers.get(`${name}.running_mean`)!;
  const rv = model.buffers.get(`${name}.running_var`)!;
  if (mode === 'eval') {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(rv, BN_EPS)));
    const e = tf.add(tf.mul(tf.sub(x, rm), scale), beta) as tf.Tensor4D;
    return relu ? tf.relu(e) : e;
  }
  if (mode === 'replay') return batchNormTrain(x, gamma, beta, BN_EPS, relu, null);
  const nbt = model.buffers.get(`${name}.num_batches_tracked`)!;
  return batchNormTrain(x, gamma, beta, BN_EPS, relu, (mean, unbiasedVar) => {
    // running statistics, as torch: unbiased variance, momentum 0.1, once per forward
    rm.assign(tf.add(tf.mul(rm, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
    rv.assign(tf.add(tf.mul(rv, 1 - BN_MOMENTUM), tf.mul(unbiasedVar, BN_MOMENTUM)));
    nbt.assign(tf.add(nbt, 1));
  });
}

function convBn(model: Model, c: ConvDef, bnName: string, x: tf.Tensor4D, bn: BnMode, relu = false): tf.Tensor4D {
  const w = model.params.get(`${c.name}.weight`)! as unknown as tf.Tensor4D;
  return batchNorm(model, bnName, conv2d(x, w, c.stride, c.pad), bn, relu);
}

/** How a segment runs: its batch-norm mode, and whether to free intermediates as it goes (never under a gradient tape). */
export interface SegmentMode { bn: BnMode; scoped: boolean }

/**
 * A piece of the backbone between two activations a checkpointed training step keeps: the stem
 * (conv1, bn1, ReLU, max pool) or one residual block. The backbone is these pieces in order.
 */
export interface BackboneSegment {
  name: string; // 'stem' or the block's prefix ('layer2.0')
  stage: number; // 0: the stem; 1-4: layer1-4 (output side S/4 ... S/32)
  params: string[]; // the model.params keys it reads, state_dict order
  run(model: Model, x: tf.Tensor4D, mode: SegmentMode): tf.Tensor4D;
}

const STEM: ConvDef = { name: 'conv1', stride: 2, pad: 3 };

function blockSegment(b: BlockDef, params: string[]): BackboneSegment {
  return {
    name: b.prefix,
    stage: b.stage,
    params,
    run(model, inp, { bn, scoped }) {
      const scope = (f: () => tf.Tensor4D): tf.Tensor4D => (scoped ? tf.tidy(f) : f());
      return scope(() => {
        let out: tf.Tensor4D = inp;
        b.convs.forEach((c, i) => {
          const prev = out;
          out = scope(() => convBn(model, c, c.name.replace(/conv(\d)$/, 'bn$1'), prev, bn, i < b.convs.length - 1));
          if (scoped && prev !== inp) prev.dispose();
        });
        const identity = b.downsample ? scope(() => convBn(model, b.downsample!, `${b.prefix}.downsample.1`, inp, bn)) : inp;
        return addRelu(out, identity);
      });
    },
  };
}

const segmentCache = new Map<ArchName, BackboneSegment[]>();

/** The backbone's segments in forward order (cached per arch). */
export function backboneSegments(arch: ArchName): BackboneSegment[] {
  let segs = segmentCache.get(arch);
  if (segs) return segs;
  const params = tensorSpecs(arch, 1).filter((s) => !s.isBuffer).map((s) => s.name);
  const stemParams = ['conv1.weight', 'bn1.weight', 'bn1.bias'];
  segs = [{
    name: 'stem',
    stage: 0,
    params: stemParams,
    run(model, x, { bn, scoped }) {
      const f = () => tf.maxPool(convBn(model, STEM, 'bn1', x, bn, true), 3, 2, 1);
      return scoped ? tf.tidy(f) : f();
    },
  }];
  for (const b of blockDefs(arch)) segs.push(blockSegment(b, params.filter((p) => p.startsWith(`${b.prefix}.`))));
  segmentCache.set(arch, segs);
  return segs;
}

/** Checks an NHWC input [N, S, S, 3] with sides that are multiples of 32. */
export function checkInput(x: tf.Tensor4D): void {
  const [, h, w, c] = x.shape;
  if (c !== 3 || !isValidInputSize(h) || !isValidInputSize(w)) throw new GradiaInputError(null, `input must be [N, H, W, 3] with H and W multiples of ${FEATURE_STRIDE} (got [${x.shape.join(', ')}])`);
}

/** layer4 output [N, S/32, S/32, C] for NHWC input [N, S, S, 3]. */
export function features(model: Model, x: tf.Tensor4D, training: boolean, freezeBn = false): tf.Tensor4D {
  checkInput(x);
  // Inference needs no activation once the next one exists: without a scope per block, every
  // intermediate (conv output, 4 eval-BN tensors, ...) of the whole network stays alive until the
  // caller's tidy ends: 218 MB per ResNet-50 image at 224 px, 17.5 MB with this. Training keeps them for the tape.
  const mode: SegmentMode = { bn: training && !freezeBn ? 'train' : 'eval', scoped: !training };
  let y = x;
  for (const seg of backboneSegments(model.arch)) {
    const inp = y;
    y = seg.run(model, inp, mode);
    // the segment's input is not the network's input and nothing else holds it
    if (!training && inp !== x) inp.dispose();
  }
  return y;
}

/** The head: global average pool + fc. */
export function head(model: Model, feats: tf.Tensor4D): tf.Tensor2D {
  const pooled = tf.mean(feats, [1, 2]) as tf.Tensor2D;
  return tf.add(tf.matMul(pooled, model.params.get('fc.weight')! as unknown as tf.Tensor2D), model.params.get('fc.bias')!) as tf.Tensor2D;
}

/**
 * Forward pass. In training mode batch norm uses batch statistics and updates the running
 * buffers (once per call, as torch); in eval mode it uses the running statistics.
 * `freezeBn` (training only): batch norm uses the running statistics and leaves them
 * unchanged (its weight and bias still train), like a torch BN module in eval mode.
 */
export function forward(model: Model, x: tf.Tensor4D, opts: { training: boolean; freezeBn?: boolean }): ForwardResult {
  const f = features(model, x, opts.training, opts.freezeBn ?? false);
  return { logits: head(model, f), features: f };
}
