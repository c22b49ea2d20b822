// `npm run bench -- objectives`: what RES-G / RES-L's global threshold costs (docs/objectives.md).
//   - step: one replica's train step on a micro-batch (forward + backward, GRADIA's loss) against
//     the robust objectives' extra first pass (a forward without gradient for the cams) + the step;
//     ResNet-18 at 224 px, batch 8 (quick: tiny18 at 96 px), onednn when built, else WASM;
//   - threshold search: the O(n log n) search on the labelled pixels of a global batch of 256
//     (7 x 7 grid: 12544 values, a third negative) against RES's quadratic loop on 1/8 of them
//     (scaled by 64 for the whole batch);
//   - the all-gather's payload: (2 + 2 G^2) floats per attention sample.
import { tf } from '../src/backend/tf.js';
import { registerOnednnBackend } from '../src/backend/onednn/index.js';
import { computeGradients, createModel, disposeModel, type TrainBatch } from '../src/model/index.js';
import { trainingCams } from '../src/model/objectives/cam_pass.js';
import { robustThreshold } from '../src/model/objectives/threshold.js';
import { recordLength } from '../src/model/objectives/robust.js';
import { hashUniform } from '../src/model/hashinit.js';

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

function best(fn: () => void, reps: number): number {
  let b = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    b = Math.min(b, (performance.now() - t0) / 1000);
  }
  return b;
}

/** RES's BF_solver loop, as written (every candidate against every constraint). */
function quadratic(c: Float32Array, y: Float32Array): number {
  const neg: number[] = [];
  const pos: number[] = [];
  y.forEach((v, i) => { if (v < 0) neg.push(i); else if (v > 0) pos.push(i); });
  let a = 0;
  let aCt = 0;
  for (const v of [...neg.map((i) => c[i]! + 1e-4), ...pos.map((i) => c[i]!)]) {
    let ct = 0;
    for (const i of neg) ct += (v > c[i]! ? 1 : 0) / neg.length;
    for (const j of pos) ct += (v <= c[j]! ? 1 : 0) / pos.length;
    if (ct > aCt) { a = v; aCt = ct; }
  }
  return a;
}

export async function bench(opts: { quick: boolean }): Promise<Record<string, unknown>> {
  const reg = await registerOnednnBackend();
  await tf.setBackend(reg.ok ? 'onednn' : 'wasm');
  const arch = opts.quick ? 'tiny18' : 'resnet18';
  const size = opts.quick ? 96 : 224;
  const n = 8;
  const g = size / 32;
  const model = createModel(arch, 2, 0);
  const targets = Float32Array.from(hashUniform('bench/targets', n * g * g), (v) => (v > 0.3 ? 1 : v < -0.6 ? -1 : 0));
  const batch: TrainBatch = {
    n, size, images: Float32Array.from(hashUniform('bench/images', n * size * size * 3)), labels: Int32Array.from({ length: n }, (_, i) => i % 2),
    predWeight: new Float32Array(n).fill(1), attWeight: new Float32Array(n).fill(1), targets,
  };
  const norm = { globalBatch: n, globalAttCount: n };
  const reps = opts.quick ? 2 : 3;
  try {
    computeGradients(model, [batch], norm, { attentionWeight: 1, cam: 'closed' }); // warm-up
    const step = best(() => computeGradients(model, [batch], norm, { attentionWeight: 1, cam: 'closed' }), reps);
    const camPass = best(() => trainingCams(model, [batch], { cam: 'closed' }), reps);
    // a global batch of 256 at 224 px: 12544 labelled values
    const m = 256 * 49;
    const c = Float32Array.from(hashUniform('bench/cams', m), (v) => Math.fround((v + 1) / 2));
    const y = Float32Array.from(hashUniform('bench/labels', m), (v) => (v < -0.33 ? -1 : 1));
    const fast = best(() => robustThreshold(c, y), 3);
    const part = m / 8;
    const slowPart = best(() => quadratic(c.subarray(0, part), y.subarray(0, part)), 1);
    const out = {
      backend: tf.getBackend(), arch, size, batch: n,
      stepSeconds: round(step), camPassSeconds: round(camPass), camPassShareOfStep: round(camPass / step, 2),
      thresholdValues: m, thresholdSeconds: round(fast, 4), resLoopSecondsScaled: round(slowPart * 64, 1),
      gatherBytesPerAttentionSample: 4 * recordLength(7),
    };
    console.log(`objectives: ${arch} ${size} px batch ${n} on ${out.backend}: step ${out.stepSeconds} s, cam pass ${out.camPassSeconds} s (+${Math.round(100 * out.camPassShareOfStep)}%)`);
    console.log(`objectives: threshold over ${m} values ${out.thresholdSeconds} s; RES's loop ~${out.resLoopSecondsScaled} s (1/8 of them timed, x64); gather ${out.gatherBytesPerAttentionSample} B per attention sample at 7x7`);
    return out;
  } finally {
    disposeModel(model);
  }
}
