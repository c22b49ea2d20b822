// Without the addon (no libdnnl-dev, or a failed build): registerOnednnBackend() says what to install,
// registers nothing, and the install step still succeeds with one warning.
import { describe, it, expect, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../src/util/paths.js';

describe('onednn fallback without the addon', () => {
  it('registerOnednnBackend() returns ok:false naming libdnnl-dev; setOnednnThreads throws the same', async () => {
    process.env.GRADIA_ONEDNN_ADDON = path.join(repoRoot, 'native', 'build', 'does-not-exist.node');
    const { tf } = await import('../src/backend/tf.js');
    const mod = await import('../src/backend/onednn/index.js');
    const r = await mod.registerOnednnBackend();
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toMatch(/libdnnl-dev/);
    expect(r.reason).toMatch(/does-not-exist\.node/);
    expect(r.reason.includes('\n')).toBe(false);
    expect(tf.findBackendFactory('onednn')).toBeNull();
    expect(await mod.registerOnednnBackend()).toEqual(r); // stable on a second call
    expect(() => mod.setOnednnThreads(2)).toThrow(/libdnnl-dev/);
    expect(mod.onednnInfo()).toEqual({ available: false, reason: r.reason });
  });

  it('a file that is not a loadable addon gives ok:false too', async () => {
    // loadAddon caches per process; exercise the loader on a bogus file through a fresh module instance
    vi.resetModules();
    const bogus = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-onednn-')), 'bogus.node');
    fs.writeFileSync(bogus, 'not a shared object');
    process.env.GRADIA_ONEDNN_ADDON = bogus;
    const fresh = await import('../src/backend/onednn/addon.js');
    const r = fresh.loadAddon();
    expect('error' in r ? r.error : 'loaded').toMatch(/failed to load.*libdnnl-dev/);
    fs.rmSync(path.dirname(bogus), { recursive: true });
  });

  it('the install step warns once and exits 0 when libdnnl-dev is missing', () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'build-native.mjs')], {
      encoding: 'utf8',
      env: { ...process.env, GRADIA_DNNL_HEADER: '/nonexistent/dnnl.hpp', GRADIA_SKIP_MPI: '1' },
    });
    expect(r.status).toBe(0);
    const lines = r.stderr.trim().split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/libdnnl-dev/);
    expect(r.stdout.trim()).toBe('');
  });
});
