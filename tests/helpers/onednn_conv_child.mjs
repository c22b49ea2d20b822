// Child process for tests/onednn_threads.test.ts (and a one-off full sweep): runs convolutions
// (forward, backward-data, backward-weights: the kernels training uses, through tf.grads) on the
// `onednn` backend at given native thread counts and compares each result with tfjs's pure-JS cpu
// backend. A native crash kills only this process; the parent sees the signal and the last
// "start" line on stderr names the shape and thread count that crashed.
//
//   node tests/helpers/onednn_conv_child.mjs '{"threads":[3,5],"batch":2,"shapes":[ConvLayer...]}'
//   node tests/helpers/onednn_conv_child.mjs '{"threads":[3,5,7],"batch":16,"size":224,"oracleThreads":1}'
// ("size" instead of "shapes": every distinct convolution of every arch at that input size)
//
// The first thread count goes through initBackend('onednn', { threads }) as --threads does; later
// ones through setOnednnThreads (what initBackend calls). stdout: one JSON line per
// (shape, threads): { name, threads, fwd, bwdData, bwdWeights } (max |a - b| / max |b|), then
// {"done":true,"native":{kernel:count}}. Needs the compiled dist/ (npm test builds it first).
// "refOut": FILE only computes the cpu results into FILE; "refIn": FILE reads them from there
// instead of recomputing them (several children, one reference). "oracleThreads": N compares with
// the onednn backend at N threads instead of the (slow) cpu backend: for sweeps of full-size shapes.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const load = (p) => import(pathToFileURL(path.join(root, 'dist', p)).href);
const { tf } = await load('src/backend/tf.js');
const { initBackend } = await load('src/backend/select.js');
const { setOnednnThreads, kernelStats } = await load('src/backend/onednn/index.js');
const { convLayers } = await load('src/model/resnet.js');
const { ARCH_NAMES } = await load('src/model/types.js');

const spec = JSON.parse(process.argv[2]);
const batch = spec.batch ?? 2;
if (!spec.shapes) {
  const seen = new Map();
  for (const a of ARCH_NAMES) {
    for (const l of convLayers(a, spec.size)) {
      const k = [l.inSize, l.kernel, l.inChannels, l.outChannels, l.stride, l.pad].join();
      if (!seen.has(k)) seen.set(k, { ...l, name: `${a}.${l.name}` });
    }
  }
  spec.shapes = [...seen.values()];
}

function rand(n, seed) {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2147483648 - 1;
  }
  return a;
}
function maxRel(a, b) {
  let d = 0;
  let m = 1e-30;
  for (let i = 0; i < b.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= d)) d = Math.abs(a[i] - b[i]); // NaN counts as a difference
    m = Math.max(m, Math.abs(b[i]));
  }
  return a.length === b.length ? d / m : Infinity;
}

/** y = conv(x, w) and the gradients of sum(y * g) wrt x and w, with the model's padding (symmetric). */
function run(l, x, w, g) {
  const oh = Math.floor((l.inSize + 2 * l.pad - l.kernel) / l.stride) + 1;
  const pad = l.pad === 0 ? 'valid' : [[0, 0], [l.pad, l.pad], [l.pad, l.pad], [0, 0]];
  const xt = tf.tensor4d(x, [batch, l.inSize, l.inSize, l.inChannels]);
  const wt = tf.tensor4d(w, [l.kernel, l.kernel, l.inChannels, l.outChannels]);
  const gt = tf.tensor4d(g, [batch, oh, oh, l.outChannels]);
  const f = (a, b) => tf.sum(tf.mul(tf.conv2d(a, b, l.stride, pad), gt));
  const [dx, dw] = tf.grads(f)([xt, wt]);
  const y = tf.conv2d(xt, wt, l.stride, pad);
  const out = { fwd: y.dataSync().slice(), bwdData: dx.dataSync().slice(), bwdWeights: dw.dataSync().slice() };
  tf.dispose([xt, wt, gt, dx, dw, y]);
  return out;
}

const KINDS = ['fwd', 'bwdData', 'bwdWeights'];
const refIn = spec.refIn ? new Float32Array(new Uint8Array(fs.readFileSync(spec.refIn)).buffer) : null;
const refOut = [];
let refPos = 0;
let first = true;
async function useOnednn(t) {
  if (first) {
    const b = await initBackend('onednn', { threads: t });
    if (b.name !== 'onednn') throw new Error(`expected the onednn backend, got ${b.name}`);
    first = false;
  } else {
    await tf.setBackend('onednn');
    setOnednnThreads(t);
  }
}
for (const [i, l] of spec.shapes.entries()) {
  const oh = Math.floor((l.inSize + 2 * l.pad - l.kernel) / l.stride) + 1;
  const x = rand(batch * l.inSize * l.inSize * l.inChannels, 1 + 3 * i);
  const w = rand(l.kernel * l.kernel * l.inChannels * l.outChannels, 2 + 3 * i);
  const g = rand(batch * oh * oh * l.outChannels, 3 + 3 * i);
  let ref;
  if (refIn) {
    const take = (n) => refIn.subarray(refPos, (refPos += n));
    ref = { fwd: take(g.length), bwdData: take(x.length), bwdWeights: take(w.length) };
  } else {
    if (spec.oracleThreads) await useOnednn(spec.oracleThreads);
    else await tf.setBackend('cpu');
    ref = run(l, x, w, g);
    if (spec.refOut) {
      for (const k of KINDS) refOut.push(ref[k]);
      continue;
    }
  }
  for (const t of spec.threads) {
    process.stderr.write(`start ${l.name} threads ${t}\n`);
    await useOnednn(t);
    const got = run(l, x, w, g);
    const r = { name: l.name, threads: t };
    for (const k of KINDS) r[k] = maxRel(got[k], ref[k]);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
}
if (refIn && refPos !== refIn.length) throw new Error(`${spec.refIn} holds ${refIn.length} values, the shapes need ${refPos}`);
if (spec.refOut) {
  const n = refOut.reduce((a, r) => a + r.length, 0);
  const all = new Float32Array(n);
  refOut.reduce((o, r) => (all.set(r, o), o + r.length), 0);
  fs.writeFileSync(spec.refOut, new Uint8Array(all.buffer));
}
process.stdout.write(`${JSON.stringify({ done: true, native: kernelStats.native })}\n`);
