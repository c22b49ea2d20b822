// `npm run bench`: runs every benchmark module, prints their lines, and ends with one JSON line.
import os from 'node:os';

interface BenchModule { bench(opts: { quick: boolean }): Promise<Record<string, unknown>> }

// Each entry is a module under bench/ exporting bench({ quick }).
const modules: Record<string, () => Promise<BenchModule>> = {
  model: () => import('./model.js'),
  data: () => import('./data.js'),
  comm: () => import('./comm.js'),
  metrics: () => import('./metrics.js'),
  onednn: () => import('./onednn.js'),
  onednn_cluster: () => import('./onednn_cluster.js'),
  phase2: () => import('./phase2.js'),
  memory: () => import('./memory.js'),
  mpi_allreduce: () => import('./mpi_allreduce.js'),
  objectives: () => import('./objectives.js'),
};

async function main(): Promise<void> {
  const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const quick = process.argv.includes('--quick');
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
  console.log(`machine: ${machine.cpus} x ${machine.cpu}, ${machine.memGiB} GiB, node ${machine.node}`);
  const results: Record<string, unknown> = { machine };
  for (const [name, load] of Object.entries(modules)) {
    if (only.length && !only.includes(name)) continue;
    console.log(`\n== ${name}`);
    results[name] = await (await load()).bench({ quick });
  }
  console.log(JSON.stringify(results));
}

await main();
