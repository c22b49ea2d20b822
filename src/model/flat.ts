// Flat Float32Array views of a model's parameters and BN buffers, in state_dict order,
// tfjs layouts (conv [kh, kw, in, out], fc weight [in, out]).
import { tf } from '../backend/tf.js';
import type { Model } from './types.js';

export interface FlatLayout {
  names: string[];
  shapes: number[][];
  offsets: number[];
  sizes: number[];
  total: number;
}

function layoutOf(vars: Map<string, tf.Variable>): FlatLayout {
  const names: string[] = [];
  const shapes: number[][] = [];
  const offsets: number[] = [];
  const sizes: number[] = [];
  let total = 0;
  for (const [name, v] of vars) {
    names.push(name);
    shapes.push(v.shape.slice());
    offsets.push(total);
    sizes.push(v.size);
    total += v.size;
  }
  return { names, shapes, offsets, sizes, total };
}

const paramCache = new WeakMap<Model, FlatLayout>();
const bufferCache = new WeakMap<Model, FlatLayout>();

export function paramLayout(model: Model): FlatLayout {
  let l = paramCache.get(model);
  if (!l) { l = layoutOf(model.params); paramCache.set(model, l); }
  return l;
}

export function bufferLayout(model: Model): FlatLayout {
  let l = bufferCache.get(model);
  if (!l) { l = layoutOf(model.buffers); bufferCache.set(model, l); }
  return l;
}

function read(vars: Map<string, tf.Variable>, layout: FlatLayout): Float32Array {
  const out = new Float32Array(layout.total);
  let i = 0;
  for (const v of vars.values()) {
    out.set(v.dataSync() as Float32Array, layout.offsets[i]);
    i++;
  }
  return out;
}

function write(vars: Map<string, tf.Variable>, layout: FlatLayout, flat: Float32Array, what: string): void {
  if (flat.length !== layout.total) throw new Error(`${what}: flat vector has ${flat.length} values, the model needs ${layout.total}`);
  let i = 0;
  for (const v of vars.values()) {
    const o = layout.offsets[i];
    const t = tf.tensor(flat.subarray(o, o + layout.sizes[i]), layout.shapes[i], 'float32');
    v.assign(t);
    t.dispose();
    i++;
  }
}

export function readParams(model: Model): Float32Array { return read(model.params, paramLayout(model)); }
export function writeParams(model: Model, flat: Float32Array): void { write(model.params, paramLayout(model), flat, 'writeParams'); }
export function readBuffers(model: Model): Float32Array { return read(model.buffers, bufferLayout(model)); }
export function writeBuffers(model: Model, flat: Float32Array): void { write(model.buffers, bufferLayout(model), flat, 'writeBuffers'); }
