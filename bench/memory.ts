// `npm run bench memory`: peak RSS of ResNet-50 at 224 px, gradia-dist against PyTorch (Debian's
// python3-torch) doing the same work in the same run:
//   train:    a phase-1 run over 2 global batches of 16 (gradia-dist: `train --arch resnet50 --n-epoch 1
//             --train-batch 16` on a generated set, its epoch-end validation included; PyTorch: the same
//             network, cross-entropy + backward + Adam on 2 batches of 16, then the eval pass below
//             is not part of it);
//   evaluate: 200 images at the default --test-batch 200 (gradia-dist: `assess` on 200 validation
//             images, decoding and Grad-CAM included; PyTorch: model.eval() + no_grad on one batch of
//             200 random images, as a GRADIA user would run it).
// Each side runs in a child process of its own; the peak is the kernel's maxRSS of that process
// (worker threads included; read at exit through a preloaded hook on the node side, getrusage in
// Python). Env: GRADIA_BENCH_THREADS (default: all cores).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot } from '../src/util/paths.js';
import { torchPython } from './onednn.js';

const CLI = path.join(repoRoot, 'bin', 'gradia-dist.js');
const PEAK_HOOK = 'data:text/javascript,process.on("exit",()=>process.stderr.write("\\nPEAK_RSS_KB "+process.resourceUsage().maxRSS+"\\n"))';

const TORCH_SCRIPT = `
import json, resource, sys, torch, torchvision
mode, size, batch, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(0)
m = torchvision.models.resnet50(num_classes=2)
if mode == "train":
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-4)
    for _ in range(steps):
        x = torch.randn(batch, 3, size, size)
        y = torch.randint(0, 2, (batch,))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(x), y).backward()
        opt.step()
else:
    m.eval()
    with torch.no_grad():
        m(torch.randn(batch, 3, size, size)).argmax(1)
print(json.dumps({"peakKb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "torch": torch.__version__, "threads": torch.get_num_threads()}))
`;

const gib = (kb: number) => Math.round((kb / 2 ** 20) * 100) / 100;

function runNode(args: string[]): { peakKb: number; seconds: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', PEAK_HOOK, CLI, ...args], { encoding: 'utf8', timeout: 3_600_000 });
  const m = /PEAK_RSS_KB (\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m) throw new Error(`gradia-dist ${args[0]} failed (exit ${r.status}): ${(r.stderr || String(r.error)).trim().split('\n').slice(-3).join(' | ')}`);
  return { peakKb: Number(m[1]), seconds: (performance.now() - t0) / 1000 };
}

function runTorch(py: string, mode: 'train' | 'eval', size: number, batch: number, steps: number, threads: number): { peakKb: number; seconds: number; torch: string } | { error: string } {
  const t0 = performance.now();
  const r = spawnSync(py, ['-c', TORCH_SCRIPT, mode, String(size), String(batch), String(steps), String(threads)], {
    encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) }, timeout: 3_600_000,
  });
  if (r.status !== 0) return { error: (r.stderr || String(r.error)).trim().split('\n').at(-1) ?? 'failed' };
  const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { peakKb: number; torch: string };
  return { peakKb: j.peakKb, torch: j.torch, seconds: (performance.now() - t0) / 1000 };
}

export async function bench(opts: { quick: boolean }): Promise<Record<string, unknown>> {
  const threads = Number(process.env.GRADIA_BENCH_THREADS) || os.cpus().length;
  // quick: the same shapes, 1 training step and 64 evaluation images (still one --test-batch chunk)
  const size = 224;
  const batch = 16;
  const steps = opts.quick ? 1 : 2;
  const testBatch = 200;
  const nEval = opts.quick ? 64 : 200;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-bench-mem-'));
  const data = path.join(dir, 'data');
  const models = path.join(dir, 'model_save');
  const out: Record<string, unknown> = { arch: 'resnet50', size, trainBatch: batch, steps, testBatch, evalImages: nEval, threads };
  try {
    const made = spawnSync(process.execPath, [CLI, 'make-data', '--out', data, '--train', String(batch * steps), '--val', String(nEval), '--test', '2', '--size', String(size)], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`make-data failed: ${made.stderr.trim()}`);
    const common = ['--data-dir', data, '--model-dir', models, '--threads', String(threads)];
    // a 16-image ResNet-50 step takes minutes on 2 busy cores: this measures memory, not the watchdog
    const train = runNode(['train', '--arch', 'resnet50', '--input-size', String(size), '--n-epoch', '1', '--train-batch', String(batch), '--test-batch', String(testBatch), '--step-timeout', '7200', ...common]);
    console.log(`gradia-dist train (resnet50, ${size} px, ${steps} steps of ${batch}, validation of ${nEval} included): peak RSS ${gib(train.peakKb)} GiB (${Math.round(train.seconds)} s)`);
    const evaluate = runNode(['assess', '--model-name', 'model_out', '--test-batch', String(testBatch), ...common]);
    console.log(`gradia-dist assess (${nEval} images, --test-batch ${testBatch}): peak RSS ${gib(evaluate.peakKb)} GiB (${Math.round(evaluate.seconds)} s)`);
    out.gradia = { trainPeakGiB: gib(train.peakKb), evalPeakGiB: gib(evaluate.peakKb), trainSeconds: Math.round(train.seconds), evalSeconds: Math.round(evaluate.seconds) };
    const py = torchPython();
    if (!py) {
      out.torch = 'not installed (apt-get install python3-torch python3-torchvision)';
      console.log(`PyTorch: ${out.torch}`);
    } else {
      const tt = runTorch(py, 'train', size, batch, steps, threads);
      const te = runTorch(py, 'eval', size, nEval, 1, threads);
      if ('error' in tt || 'error' in te) {
        out.torch = { error: 'error' in tt ? tt.error : (te as { error: string }).error };
      } else {
        out.torch = { version: tt.torch, trainPeakGiB: gib(tt.peakKb), evalPeakGiB: gib(te.peakKb) };
        out.trainOverTorch = Math.round((train.peakKb / tt.peakKb) * 100) / 100;
        out.evalOverTorch = Math.round((evaluate.peakKb / te.peakKb) * 100) / 100;
      }
      console.log(`PyTorch ${'error' in tt ? tt.error : `${tt.torch} train: peak RSS ${gib(tt.peakKb)} GiB`}; ${'error' in te ? te.error : `eval of ${nEval} (no_grad, one batch): peak RSS ${gib(te.peakKb)} GiB`}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  out.machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', memGiB: Math.round(os.totalmem() / 2 ** 30) };
  return out;
}
