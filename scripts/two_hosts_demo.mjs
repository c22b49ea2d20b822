// The README's two-host demonstration (needs root, iproute2, Open MPI and the MPI addon):
// builds two "hosts" (network namespaces on a bridge, tests/helpers/netns.ts), then runs
// GRADIA phase 2 under mpirun with one rank on each, and prints the commands and their output.
//   npm run build && node scripts/two_hosts_demo.mjs [workdir]
// Phase 1 and the stand-in human judgement run first, on this machine, as usual.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { createHosts, capture } = await import(path.join(root, 'dist', 'tests', 'helpers', 'netns.js'));
const cli = path.join(root, 'bin', 'gradia-dist.js');
const work = process.argv[2] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-two-hosts-'));
const data = path.join(work, 'data');
const models = path.join(work, 'models');
const common = ['--arch', 'tiny18', '--input-size', '96', '--train-batch', '16', '--micro-batch', '8', '--seed', '1'];

function local(args) {
  console.log(`$ gradia-dist ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const out = (r.stdout + r.stderr).trim().split('\n');
  console.log(out.slice(-3).join('\n'));
  if (r.status !== 0) throw new Error(`gradia-dist ${args[0]} exited ${r.status}`);
}

local(['make-data', '--out', data, '--train', '64', '--val', '16', '--test', '16', '--size', '96', '--seed', '2']);
local(['train', '--phase', '1', '--data-dir', data, '--model-dir', models, '--n-epoch', '2', ...common]);
local(['assess', '--data-dir', data, '--model-dir', models, '--model-name', 'model_out']);

const hosts = createHosts(2);
try {
  console.log(`\nhosts: ${hosts.addresses.map((a, k) => `${hosts.hostnames[k]} = ${a} (netns ${hosts.namespaces[k]})`).join(', ')}`);
  console.log(`hostfile:\n${fs.readFileSync(hosts.hostfile, 'utf8').trim()}`);
  console.log(`rsh agent (${hosts.agentScript}):\n${fs.readFileSync(hosts.agentScript, 'utf8').trim()}\n`);
  const args = ['train', '--phase', '2', '--reasonability', '--data-dir', data, '--model-dir', models, '--model-name', 'model_out', '--n-epoch', '3', '--check-every', '5', ...common];
  const mpirun = ['mpirun', '-np', '2', ...hosts.mpirunOptions()];
  console.log(`[on ${hosts.hostnames[0]}]$ ${mpirun.join(' ')} \\\n    gradia-dist ${args.join(' ')}`);
  const t0 = Date.now();
  const r = await capture(hosts.onHost(0, [...mpirun, process.execPath, cli, ...args]), { timeoutMs: 600_000 });
  console.log((r.stdout + r.stderr).trim());
  console.log(`(exit ${r.code}, ${((Date.now() - t0) / 1000).toFixed(0)} s wall)`);
  if (r.code !== 0) process.exitCode = 1;
} finally {
  hosts.close();
}
