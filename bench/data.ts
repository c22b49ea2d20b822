// Data pipeline throughput: decode + resize (to 224 px, as torchvision Resize) + flip +
// ImageNet normalisation in the piscina pool of sharp workers, with 1 and 2 pool threads.
// "cold" = first epoch (every file decoded), "warm" = later epochs (decoded uint8 images
// come from the per-pipeline cache; only flip + normalise run). Images: JPEGs of
// photo-like content (gradients, shapes and noise) at 400x300, written to a temp folder.
// Also: streaming parse speed and memory of an attention file of 224x224 0/1 maps (the
// original's format, ~150 KB of JSON per map).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { readAttentionFile } from '../src/data/attention.js';
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
    // attention file parsing
    const maps = opts.quick ? 100 : 500;
    const f = path.join(dir, 'attention_val.json');
    const fd = fs.openSync(f, 'w');
    const rows = Array.from({ length: 224 }, (_, y) => `[${Array.from({ length: 224 }, (_, x) => ((x * x + y) % 7 < 2 ? 1 : 0)).join(', ')}]`).join(', ');
    fs.writeSync(fd, '[');
    for (let i = 0; i < maps; i++) fs.writeSync(fd, `${i ? ', ' : ''}{"img": "gender_data/val/c/img_${i}.jpg", "attention": [${rows}]}`);
    fs.writeSync(fd, ']');
    fs.closeSync(fd);
    const mb = fs.statSync(f).size / 1e6;
    const heap0 = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    const t0 = process.hrtime.bigint();
    const parsed = readAttentionFile(f);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const grew = (process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers - heap0) / 1e6;
    res.attentionParse = { maps: parsed.size, fileMB: Math.round(mb), MBPerSec: Math.round(mb / secs), memoryMB: Math.round(grew) };
    console.log(`attention file: ${parsed.size} maps of 224x224, ${mb.toFixed(0)} MB of JSON parsed at ${(mb / secs).toFixed(0)} MB/s, ~${grew.toFixed(0)} MB held`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return res;
}
