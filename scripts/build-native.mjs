// Install step (package.json "install"): builds the optional oneDNN addon in native/build.
// - libdnnl-dev missing: one warning, exit 0 (the onednn backend then reports itself unavailable).
// - compile failure: one warning (log in native/build/build.log), exit 0.
// - GRADIA_SKIP_NATIVE=1: skip quietly (CI's fallback step).
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
  const header = process.env.GRADIA_DNNL_HEADER ?? '/usr/include/oneapi/dnnl/dnnl.hpp';
  if (!fs.existsSync(header)) {
    warn(`${header} not found; install libdnnl-dev (apt-get install libdnnl-dev) and run node scripts/build-native.mjs`);
    return;
  }
  let gypJs;
  try {
    require.resolve('node-addon-api');
    gypJs = require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    warn('node-gyp or node-addon-api is not installed (npm dependencies)');
    return;
  }
  // Node's own headers: <prefix>/include/node next to the running binary.
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const nodedir = process.env.GRADIA_NODEDIR ?? prefix;
  if (!fs.existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) {
    warn(`Node headers not found under ${path.join(nodedir, 'include', 'node')} (set GRADIA_NODEDIR)`);
    return;
  }
  fs.mkdirSync(buildDir, { recursive: true });
  const logFile = path.join(buildDir, 'build.log');
  const jobs = String(Math.max(1, Math.min(4, (process.env.GRADIA_BUILD_JOBS ? Number(process.env.GRADIA_BUILD_JOBS) : 2))));
  const r = spawnSync(process.execPath, [gypJs, 'rebuild', `--nodedir=${nodedir}`, `--jobs=${jobs}`], {
    cwd: nativeDir,
    encoding: 'utf8',
    env: { ...process.env, npm_config_nodedir: nodedir },
  });
  fs.mkdirSync(buildDir, { recursive: true });
  fs.writeFileSync(logFile, `${r.stdout ?? ''}\n${r.stderr ?? ''}\n${r.error ? String(r.error) : ''}`);
  const addon = path.join(buildDir, 'Release', 'gradia_onednn.node');
  if (r.status !== 0 || !fs.existsSync(addon)) {
    warn(`compilation failed (exit ${r.status}); see ${path.relative(root, logFile)}`);
    return;
  }
  console.log(`gradia-dist: oneDNN addon built: ${path.relative(root, addon)}`);
}

try {
  main();
} catch (e) {
  warn(`unexpected error: ${e instanceof Error ? e.message : String(e)}`);
}
process.exit(0);
