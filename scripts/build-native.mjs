// Install step (package.json "install"): builds the optional N-API addons, each on its own:
// the oneDNN addon in native/build, the Open MPI addon in native/mpi/build.
// - libdnnl-dev (or libopenmpi-dev) missing: one warning each, exit 0 (the onednn backend
//   then reports itself unavailable; `mpirun ... gradia-dist train` says what to install).
// - compile failure: one warning (log in <build dir>/build.log), exit 0.
// - GRADIA_SKIP_NATIVE=1: skip both quietly (CI's fallback step); GRADIA_SKIP_MPI=1: skip the MPI one.
// Node headers come from the local Node installation (--nodedir): only registries are reachable here.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native');
const buildDir = path.join(nativeDir, 'build');
const require = createRequire(import.meta.url);

function warn(msg) {
  console.warn(`gradia-dist: oneDNN backend not built: ${msg}. The 'onednn' backend will be unavailable (auto falls back to WASM).`);
}

function main() {
  if (process.env.GRADIA_SKIP_NATIVE === '1') {
    console.log('gradia-dist: GRADIA_SKIP_NATIVE=1, not building the oneDNN addon');
    return;
  }
  buildOnednn();
  if (process.env.GRADIA_SKIP_MPI !== '1') buildMpi();
}

/** node-gyp's script and Node's headers, or null after one warning through `fail`. */
function gypTools(fail) {
  let gypJs;
  try {
    require.resolve('node-addon-api');
    gypJs = require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    fail('node-gyp or node-addon-api is not installed (npm dependencies)');
    return null;
  }
  // Node's own headers: <prefix>/include/node next to the running binary.
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const nodedir = process.env.GRADIA_NODEDIR ?? prefix;
  if (!fs.existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) {
    fail(`Node headers not found under ${path.join(nodedir, 'include', 'node')} (set GRADIA_NODEDIR)`);
    return null;
  }
  const jobs = String(Math.max(1, Math.min(4, (process.env.GRADIA_BUILD_JOBS ? Number(process.env.GRADIA_BUILD_JOBS) : 2))));
  return { gypJs, nodedir, jobs };
}

/** `node-gyp rebuild` in dir; returns true when target.node was produced. The log goes to dir/build/build.log. */
function gypRebuild(tools, dir, target, env, fail) {
  const out = path.join(dir, 'build');
  const r = spawnSync(process.execPath, [tools.gypJs, 'rebuild', `--nodedir=${tools.nodedir}`, `--jobs=${tools.jobs}`], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, ...env, npm_config_nodedir: tools.nodedir },
  });
  fs.mkdirSync(out, { recursive: true });
  const logFile = path.join(out, 'build.log');
  fs.writeFileSync(logFile, `${r.stdout ?? ''}\n${r.stderr ?? ''}\n${r.error ? String(r.error) : ''}`);
  if (r.status !== 0 || !fs.existsSync(path.join(out, 'Release', `${target}.node`))) {
    fail(`compilation failed (exit ${r.status}); see ${path.relative(root, logFile)}`);
    return false;
  }
  return true;
}

function mpiWarn(msg) {
  console.warn(`gradia-dist: Open MPI addon not built: ${msg}. Training on one machine is unchanged; \`mpirun ... gradia-dist train\` needs it.`);
}

/** The Open MPI addon: flags from mpicc's wrapper (`--showme:compile`, `--showme:link`). */
function buildMpi() {
  const mpicc = process.env.GRADIA_MPICC ?? 'mpicc';
  const showme = (what) => spawnSync(mpicc, [`--showme:${what}`], { encoding: 'utf8' });
  const compile = showme('compile');
  const link = showme('link');
  if (compile.error || compile.status !== 0 || link.status !== 0) {
    mpiWarn(`${mpicc} --showme failed or is missing; install libopenmpi-dev and openmpi-bin (apt-get install libopenmpi-dev openmpi-bin) and run node scripts/build-native.mjs`);
    return;
  }
  const include = compile.stdout.trim().split(/\s+/).filter((f) => f.startsWith('-I')).map((f) => f.slice(2));
  if (!include.some((d) => fs.existsSync(path.join(d, 'mpi.h')))) {
    mpiWarn(`mpi.h not found in ${include.join(', ') || '(no include dir)'}; install libopenmpi-dev and run node scripts/build-native.mjs`);
    return;
  }
  const tools = gypTools(mpiWarn);
  if (!tools) return;
  const env = { GRADIA_MPI_COMPILE: compile.stdout.trim(), GRADIA_MPI_LINK: link.stdout.trim() };
  if (!gypRebuild(tools, path.join(nativeDir, 'mpi'), 'gradia_mpi', env, mpiWarn)) return;
  console.log('gradia-dist: Open MPI addon built: native/mpi/build/Release/gradia_mpi.node');
}

function buildOnednn() {
  const header = process.env.GRADIA_DNNL_HEADER ?? '/usr/include/oneapi/dnnl/dnnl.hpp';
  if (!fs.existsSync(header)) {
    warn(`${header} not found; install libdnnl-dev (apt-get install libdnnl-dev) and run node scripts/build-native.mjs`);
    return;
  }
  const tools = gypTools(warn);
  if (!tools) return;
  if (!gypRebuild(tools, nativeDir, 'gradia_onednn', {}, warn)) return;
  console.log(`gradia-dist: oneDNN addon built: ${path.relative(root, path.join(buildDir, 'Release', 'gradia_onednn.node'))}`);
}

try {
  main();
} catch (e) {
  warn(`unexpected error: ${e instanceof Error ? e.message : String(e)}`);
}
process.exit(0);
