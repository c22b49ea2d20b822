// `npm run bench phase2`: one GRADIA phase-2 epoch, gradia-dist (`train --phase 2 --backend onednn`)
// vs the original GRADIA.py's loop (bench/gradia_original.py: PyTorch, CPU), same machine, same data.
//
// How it measures:
//   - data: `make-data --size S --train N --val M` in a temporary folder; reasonablity_val.json
//     labels every val image 'Unreasonable Accurate', so every val image with a map (all of them)
//     has att_weight 1.6 > 0. Phase 2 trains on train + val (N + M images, M with attention).
//   - gradia-dist: `train --phase 1 --n-epoch 1` makes the checkpoint, then
//     `train --phase 2 --n-epoch E --backend onednn --workers W --threads cores/W --train-batch B
//     --micro-batch B/W --json` for each W of GRADIA_BENCH_WORKERS; per-epoch seconds are the summary's epochs[].seconds: the
//     coordinator's wall time of every training step (image loading, forward/backward with the
//     batched closed-form Grad-CAM, all-reduce, Adam), not the evaluation after each epoch.
//   - original: `python3 bench/gradia_original.py --threads cores --epochs E --batch B`, ResNet-50
//     with random weights; per epoch: image loading + for every sample with att_weight > 0 a
//     separate single-image forward + full backward (train mode) for its Grad-CAM, then the batch
//     forward/backward of task + attention loss and Adam. Model creation and target building are
//     outside the timed epoch, as on the gradia-dist side.
//   - both sides run E epochs (the first includes warm-up); the two are alternated `rounds`
//     times (gradia, torch, then torch, gradia, ...) on the shared machine; the ratio uses the
//     fastest epoch of each side, and the first-epoch ratio is printed as well.
// Env: GRADIA_BENCH_ROUNDS (default 2, quick 1), GRADIA_BENCH_WORKERS (comma list of worker counts;
//      default `cores,1`: cores workers x 1 thread and 1 worker x cores threads; quick: cores),
//      GRADIA_BENCH_SKIP (comma list: torch), GRADIA_BENCH_OUT=file.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { registerOnednnBackend } from '../src/backend/onednn/index.js';
import { generateDataSet } from '../src/data/generator.js';
import { torchPython } from './onednn.js';

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** The repository root (this file is bench/phase2.ts, compiled to dist/bench/phase2.js). */
function repoRoot(): string {
  let d = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (fs.existsSync(path.join(d, 'bin', 'gradia-dist.js')) && fs.existsSync(path.join(d, 'bench', 'gradia_original.py'))) return d;
    d = path.dirname(d);
  }
  throw new Error('phase2 bench: cannot find the repository root (bin/gradia-dist.js, bench/gradia_original.py)');
}

function lastJson(stdout: string): Record<string, unknown> {
  const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) throw new Error('no JSON line in the output');
  return JSON.parse(line) as Record<string, unknown>;
}

function runCli(root: string, args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'gradia-dist.js'), ...args], { encoding: 'utf8', timeout: 1_800_000 });
  if (r.status !== 0) throw new Error(`gradia-dist ${args.slice(0, 3).join(' ')} failed: ${(r.stderr || String(r.error)).trim().split('\n').slice(-3).join(' | ')}`);
  return lastJson(r.stdout);
}

export async function bench(opts: { quick: boolean }): Promise<Record<string, unknown>> {
  const reg = await registerOnednnBackend();
  if (!reg.ok) {
    console.log(`phase2: skipped: ${reg.reason}`);
    return { skipped: reg.reason };
  }
  const root = repoRoot();
  const cores = os.cpus().length;
  // worker counts to run gradia-dist with (threads per worker = cores / workers)
  const workerList = (process.env.GRADIA_BENCH_WORKERS ?? (opts.quick || cores === 1 ? `${cores}` : `${cores},1`)).split(',').map(Number).filter((w) => w >= 1);
  const size = opts.quick ? 96 : 224;
  const nTrain = opts.quick ? 8 : 32;
  const nVal = opts.quick ? 8 : 32;
  const batch = opts.quick ? 8 : 16;
  const epochs = opts.quick ? 1 : 2;
  const arch = opts.quick ? 'resnet18' : 'resnet50';
  const rounds = Number(process.env.GRADIA_BENCH_ROUNDS) || (opts.quick ? 1 : 2);
  const skip = new Set((process.env.GRADIA_BENCH_SKIP ?? '').split(','));
  const out: Record<string, unknown> = {
    arch, size, train: nTrain, val: nVal, withAttention: nVal, batch, epochs, rounds, gradiaConfigs: workerList.map((w) => `${w}x${Math.max(1, Math.floor(cores / w))}`), torchThreads: cores,
    how: 'epoch seconds = training steps only (gradia-dist: summary epochs[].seconds; original: image loading + per-sample Grad-CAM passes + batch passes + Adam); ratio = fastest epoch of each side',
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-bench-phase2-'));
  try {
    const data = path.join(dir, 'data');
    await generateDataSet({ out: data, seed: 0, train: nTrain, val: nVal, test: 2, size, spurious: 0.95 });
    const valNames: string[] = [];
    for (const c of fs.readdirSync(path.join(data, 'gender_data', 'val'))) valNames.push(...fs.readdirSync(path.join(data, 'gender_data', 'val', c)));
    fs.writeFileSync(path.join(data, 'reasonablity_val.json'), JSON.stringify(Object.fromEntries(valNames.map((n) => [n, 'Unreasonable Accurate']))));
    const models = path.join(dir, 'models');
    const common = ['--data-dir', data, '--model-dir', models, '--arch', arch, '--input-size', String(size), '--backend', 'onednn',
      '--train-batch', String(batch), '--test-batch', '16', '--json'];
    const placement = (w: number) => ['--workers', String(w), '--threads', String(Math.max(1, Math.floor(cores / w))), '--micro-batch', String(Math.ceil(batch / w))];
    console.log(`phase2: ${arch} ${size} px, ${nTrain} train + ${nVal} val images (all ${nVal} val with att_weight 1.6), batch ${batch}, ${epochs} epoch(s) per run, ${rounds} round(s) alternating`);
    runCli(root, ['train', '--phase', '1', '--n-epoch', '1', ...common, ...placement(workerList[0])]);
    const py = skip.has('torch') ? null : torchPython();
    if (!py) console.log(`phase2: original (PyTorch) side skipped: ${skip.has('torch') ? 'GRADIA_BENCH_SKIP=torch' : 'python3 with torch and torchvision not found (apt-get install python3-torch python3-torchvision)'}`);
    const gradiaRuns: Record<string, number[][]> = {};
    const torchRuns: { seconds: number[]; camPassSeconds: number[] }[] = [];
    let torchInfo: Record<string, unknown> = {};
    const runGradia = () => {
      for (const w of workerList) {
        const key = `${w}x${Math.max(1, Math.floor(cores / w))}`;
        const load = os.loadavg()[0];
        const s = runCli(root, ['train', '--phase', '2', '--n-epoch', String(epochs), '--model-name', 'model_out', ...common, ...placement(w)]);
        const secs = (s.epochs as { seconds: number }[]).map((e) => round(e.seconds, 2));
        (gradiaRuns[key] ??= []).push(secs);
        console.log(`phase2 gradia-dist onednn (${w} worker(s) x ${key.split('x')[1]} thread(s)): epoch seconds ${secs.join(' / ')} [load ${load.toFixed(2)}]`);
      }
    };
    const runTorch = () => {
      const load = os.loadavg()[0];
      const r = spawnSync(py!, [path.join(root, 'bench', 'gradia_original.py'), '--data', data, '--threads', String(cores), '--epochs', String(epochs),
        '--batch', String(batch), '--size', String(size), '--arch', arch], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(cores) }, timeout: 1_800_000 });
      if (r.status !== 0) throw new Error(`bench/gradia_original.py failed: ${(r.stderr || String(r.error)).trim().split('\n').slice(-3).join(' | ')}`);
      const j = lastJson(r.stdout);
      const ep = j.epochs as { seconds: number; camPassSeconds: number }[];
      torchInfo = { torch: j.torch, threads: j.threads, samples: j.samples, withAttention: j.withAttention };
      const run = { seconds: ep.map((e) => round(e.seconds)), camPassSeconds: ep.map((e) => round(e.camPassSeconds)) };
      torchRuns.push(run);
      console.log(`phase2 original loop (PyTorch ${String(j.torch)}, ${String(j.threads)} threads): epoch seconds ${run.seconds.join(' / ')} (per-sample Grad-CAM passes: ${run.camPassSeconds.join(' / ')}) [load ${load.toFixed(2)}]`);
    };
    for (let r = 0; r < rounds; r++) {
      if (r % 2 === 0 || !py) { runGradia(); if (py) runTorch(); } else { runTorch(); runGradia(); }
    }
    const all = Object.values(gradiaRuns).flatMap((r) => r.flat());
    const gBest = Math.min(...all);
    out.gradiaDist = Object.fromEntries(Object.entries(gradiaRuns).map(([k, r]) => [k, { epochSeconds: r, best: Math.min(...r.flat()), imagesPerS: round((nTrain + nVal) / Math.min(...r.flat())) }]));
    if (torchRuns.length) {
      const tBest = Math.min(...torchRuns.flatMap((t) => t.seconds));
      out.original = { ...torchInfo, epochSeconds: torchRuns.map((t) => t.seconds), camPassSeconds: torchRuns.map((t) => t.camPassSeconds), best: tBest, imagesPerS: round((nTrain + nVal) / tBest) };
      out.speedup = round(tBest / gBest);
      out.speedupByConfig = Object.fromEntries(Object.entries(gradiaRuns).map(([k, r]) => [k, round(tBest / Math.min(...r.flat()))]));
      const g1 = Math.min(...Object.values(gradiaRuns).flatMap((r) => r.map((x) => x[0])));
      const t1 = Math.min(...torchRuns.map((x) => x.seconds[0]));
      out.speedupFirstEpoch = round(t1 / g1);
      console.log(`phase2: gradia-dist is ${out.speedup}x faster than the original loop (fastest epochs: ${round(gBest)} s vs ${round(tBest)} s; first epochs: ${out.speedupFirstEpoch}x; by gradia-dist config: ${JSON.stringify(out.speedupByConfig)}); goal >= 1.5x`);
    } else {
      out.original = skip.has('torch') ? 'skipped: GRADIA_BENCH_SKIP=torch' : 'skipped: python3 with torch and torchvision not found';
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  out.machine = { cpus: cores, cpu: os.cpus()[0]?.model ?? 'unknown', memGiB: Math.round(os.totalmem() / 2 ** 30), loadavgAtEnd: os.loadavg().map((x) => round(x)) };
  if (process.env.GRADIA_BENCH_OUT) fs.writeFileSync(process.env.GRADIA_BENCH_OUT, JSON.stringify(out, null, 2));
  return out;
}
