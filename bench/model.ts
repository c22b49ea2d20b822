// Train-step throughput (forward + backward with the GRADIA losses + Adam) of ResNet-18 and
// ResNet-50 at 224 px on the selected backend (GRADIA_BACKEND, default auto).
import { initBackend } from '../src/backend/select.js';
import type { BackendRequest } from '../src/backend/select.js';
import { tf } from '../src/backend/tf.js';
import { createModel, disposeModel, computeGradients, evaluateBatch, readParams, writeParams, paramLayout } from '../src/model/index.js';
import { adamStep, createAdamState } from '../src/model/adam.js';
import type { ArchName, TrainBatch } from '../src/model/index.js';

function batch(n: number, size: number): TrainBatch {
  const g = size / 32;
  let s = 12345;
  const r = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
  return {
    n, size, images: new Float32Array(n * size * size * 3).map(() => r() * 4 - 2),
    labels: Int32Array.from({ length: n }, (_, i) => i % 2), predWeight: new Float32Array(n).fill(1),
    attWeight: Float32Array.from({ length: n }, (_, i) => (i % 2 ? 1 : 0)), targets: new Float32Array(n * g * g).map(() => r()),
  };
}

export async function bench(opts: { quick: boolean }): Promise<Record<string, unknown>> {
  const backend = await initBackend((process.env.GRADIA_BACKEND ?? 'auto') as BackendRequest);
  console.log(`backend: ${backend.name} (${backend.reason})`);
  const size = 224;
  const microBatch = opts.quick ? 2 : 4;
  const steps = opts.quick ? 1 : 3;
  const out: Record<string, unknown> = { backend: backend.name, size, microBatch, steps };
  for (const arch of ['resnet18', 'resnet50'] as ArchName[]) {
    const model = createModel(arch, 2, 0);
    const b = batch(microBatch, size);
    const norm = { globalBatch: microBatch, globalAttCount: Math.floor(microBatch / 2) };
    const adam = createAdamState(paramLayout(model).total);
    const step = () => {
      const r = computeGradients(model, [b], norm, { attentionWeight: 1, cam: 'closed' });
      const p = readParams(model);
      adamStep(p, r.grads, adam);
      writeParams(model, p);
    };
    step(); // warm-up (kernel setup, allocation)
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) step();
    const trainS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    evaluateBatch(model, b.images, microBatch, size);
    const evalS = (performance.now() - t1) / 1000;
    const res = { trainImagesPerS: (microBatch * steps) / trainS, evalImagesPerS: microBatch / evalS, tensors: tf.memory().numTensors };
    console.log(`${arch}: train ${res.trainImagesPerS.toFixed(2)} images/s, eval ${res.evalImagesPerS.toFixed(2)} images/s (micro-batch ${microBatch}, ${backend.name})`);
    out[arch] = res;
    disposeModel(model);
  }
  return out;
}
