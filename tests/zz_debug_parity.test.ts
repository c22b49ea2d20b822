import { it } from 'vitest';
import fs from 'node:fs';
import { tf } from '../src/backend/tf.js';
import { createModel, applyHashWeights, hashUniform, computeGradients, paramLayout, tfToTorch, forward } from '../src/model/index.js';
import { gradiaLoss } from '../src/model/losses.js';
function rel(a: ArrayLike<number>, b: ArrayLike<number>) { let d = 0, m = 0; for (let i = 0; i < b.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); } return d / m; }
it('debug', async () => {
  await tf.setBackend(process.env.BE!); (await import('../src/model/conv.js')).setConvGradMode(process.env.MODE as 'native');
  const ref = JSON.parse(fs.readFileSync('/tmp/scr/dump.json', 'utf8'));
  const m = createModel('resnet18', 5, 0); applyHashWeights(m);
  const n = 3, size = 224, g = 7;
  const images = Float32Array.from(hashUniform('input', n * size * size * 3), (v) => 1.5 * v);
  const targets = Float32Array.from(hashUniform('target', n * g * g), (v) => (v + 1) / 2);
  const pl = paramLayout(m);
  for (const only of ['task']) {
    const pw = only === 'task' ? [1, 0.4, 0.8] : [0, 0, 0];
    const aw = only === 'att' ? [1, 1.6, 0] : [0, 0, 0];
    // dA directly
    const x = tf.tensor4d(images, [n, size, size, 3]);
    let A: tf.Tensor | null = null;
    const r = computeGradients(m, [{ n, size, images, labels: Int32Array.from([1, 2, 0]), predWeight: Float32Array.from(pw), attWeight: Float32Array.from(aw), targets }], { globalBatch: 3, globalAttCount: 2 }, { attentionWeight: 1.5, cam: 'closed' });
    const sl = (name: string) => { const i = pl.names.indexOf(name); const s = m.specs.find((q) => q.name === name)!; return tfToTorch(s, r.grads.slice(pl.offsets[i], pl.offsets[i] + pl.sizes[i])); };
    const c1 = sl('conv1.weight'); const l4 = sl('layer4.0.conv2.weight').filter((_, i) => i % 50 === 0);
    console.log(only, 'conv1', rel(c1, ref[only].conv1), 'l4c2', rel(l4, ref[only].l4c2));
    const { minMaxNormalise } = await import('../src/model/gradcam.js');
    const { gradCamClosed } = await import('../src/model/gradcam.js');
    const feats = tf.tidy(() => forward(m, x, { training: true }).features);
    const onehot = tf.oneHot(tf.tensor1d([1, 2, 0], 'int32'), 5).toFloat() as tf.Tensor2D;
    const cam = gradCamClosed(m, feats, onehot);
    console.log(only, 'cam', rel(cam.dataSync(), ref[only].cam));
    const dA = tf.grad((a: tf.Tensor) => {
      const c = gradCamClosed(m, a as tf.Tensor4D, onehot);
      const l1 = tf.mean(tf.abs(tf.sub(minMaxNormalise(c), tf.tensor3d(targets, [3, 7, 7]))), [1, 2]);
      return tf.mul(tf.sum(tf.mul(l1, tf.tensor1d(aw))), 1.5 / 2);
    })(feats);
    if (only === 'att') console.log(only, 'dA', rel(dA.dataSync().filter((_, i) => i % 7 === 0), ref[only].dA));
    const d = dA.dataSync().filter((_, i) => i % 7 === 0); const rr = ref[only].dA as number[];
    let worst = 0, wi = 0; for (let i = 0; i < rr.length; i++) if (Math.abs(d[i] - rr[i]) > worst) { worst = Math.abs(d[i] - rr[i]); wi = i; }
    console.log(only, 'worst dA', wi, d[wi], rr[wi], 'mx', Math.max(...rr.map(Math.abs)));
  }
});
