// Data pipeline throughput: decode + resize (to 224 px, as torchvision Resize) + flip +
// ImageNet normalisation in the piscina pool of sharp workers, with 1 and 2 pool threads.
// "cold" = first epoch (every file decoded), "warm" = later epochs (decoded uint8 images
// come from the per-pipeline cache; only flip + normalise run). Images: JPEGs of
// photo-like content (gradients, shapes and noise) at 400x300, written to a temp folder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { flipFor } from '../src/data/flip.js';
import { renderSample } from '../src/data/generator.js';
import { ImagePipeline } from '../src/data/pipeline.js';

const SIZE = 224;
const BATCH = 32;

async function makeImages(dir: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = renderSample(1000 + i, 320, i % 2, i % 2);
    const p = path.join(dir, `img_${i}.jpg`);
    await sharp(Buffer.from(r.rgb), { raw: { width: 320, height: 320, channels: 3 } }).resize(400, 300, { fit: 'fill' }).jpeg({ quality: 90 }).toFile(p);
    out.push(p);
  }
  return out;
}

async function epoch(pipe: ImagePipeline, files: string[], e: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < files.length; b += BATCH) {
    const paths = files.slice(b, b + BATCH);
    await pipe.load(paths, paths.map((_, i) => flipFor(1, e, b + i)));
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export async function bench(opts: { quick: boolean }): Promise<Record<string, unknown>> {
  const n = opts.quick ? 64 : 256;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-bench-data-'));
  const res: Record<string, unknown> = { images: n, inputSize: '400x300 jpeg', outputSize: SIZE, batch: BATCH };
  try {
    const files = await makeImages(dir, n);
    for (const threads of [1, 2]) {
      const pipe = await ImagePipeline.create({ threads, size: SIZE });
      try {
        const cold = await epoch(pipe, files, 0);
        let warm = Infinity;
        for (let e = 1; e <= (opts.quick ? 1 : 3); e++) warm = Math.min(warm, await epoch(pipe, files, e));
        const r = { coldImagesPerSec: Math.round(n / cold), warmImagesPerSec: Math.round(n / warm) };
        console.log(`data pipeline, ${threads} thread${threads === 1 ? ' ' : 's'}: ${r.coldImagesPerSec} images/s decode+resize+augment (first epoch), ${r.warmImagesPerSec} images/s augment from cache (later epochs), ${SIZE} px`);
        res[`threads${threads}`] = r;
      } finally {
        await pipe.close();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return res;
}
