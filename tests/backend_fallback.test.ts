// Without the oneDNN addon (a machine without libdnnl-dev), `--backend auto` falls back to
// WASM and says why, and `--backend onednn` fails with one line saying what to install.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from './helpers/cli.js';

describe('backend selection without the oneDNN addon', () => {
  let dir: string;
  const env = { ...process.env, GRADIA_ONEDNN_ADDON: '/nonexistent/gradia_onednn.node' };
  const train = (backend: string) => spawnSync(process.execPath, [CLI, 'train', '--data-dir', path.join(dir, 'data'), '--model-dir', path.join(dir, `m-${backend}`),
    '--arch', 'tiny18', '--input-size', '64', '--n-epoch', '1', '--train-batch', '8', '--workers', '1', '--backend', backend], { encoding: 'utf8', env });
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-fallback-'));
    expect(runCli(['make-data', '--out', path.join(dir, 'data'), '--train', '8', '--val', '4', '--test', '4', '--size', '64']).code).toBe(0);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('auto picks WASM and prints why', () => {
    const r = train('auto');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/worker\(s\) on wasm \(auto: .*libdnnl-dev.*using WASM\)/);
  });

  it('an explicit --backend onednn is one clear error', () => {
    const r = train('onednn');
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^gradia-dist: --backend onednn: .*libdnnl-dev/);
  });
});
