import { describe, expect, it } from 'vitest';
import { normaliseArgv } from '../src/cli/argv.js';
import os from 'node:os';
import { defaultDecodeCacheBytes, runtimeFrom } from '../src/cli/runtime_options.js';
import { DEFAULT_DECODE_CACHE_MB } from '../src/data/pipeline.js';

describe('normaliseArgv', () => {
  it('defaults to train when no subcommand is given', () => {
    expect(normaliseArgv(['--gpus', '0,1', '--phase', '2'])).toEqual(['train', '--gpus', '0,1', '--phase', '2']);
  });
  it('maps the original flags, including --trainWithMap and the misspelt --reasonablity', () => {
    expect(normaliseArgv(['--trainWithMap', '--model_name', 'm', '--n_epoch=3', '--reasonablity', '--data_dir', 'd']))
      .toEqual(['train', '--phase', '2', '--model-name', 'm', '--n-epoch=3', '--reasonability', '--data-dir', 'd']);
  });
  it('turns --evaluate into the evaluate subcommand', () => {
    expect(normaliseArgv(['--evaluate', '--model_name', 'm'])).toEqual(['evaluate', '--model-name', 'm']);
  });
  it('leaves an unknown command for the parser to report', () => {
    expect(normaliseArgv(['frobnicate', '--x'])).toEqual(['frobnicate', '--x']);
  });
  it('keeps explicit subcommands and help untouched', () => {
    expect(normaliseArgv(['predict', '--arch', 'resnet50'])).toEqual(['predict', '--arch', 'resnet50']);
    expect(normaliseArgv(['--help'])).toEqual(['--help']);
  });
});

describe('runtime options', () => {
  it('--decode-cache-mb becomes the replicas\' cache cap in bytes; negative is refused', async () => {
    const base = { backend: 'cpu', workers: 1, loaderThreads: 1, stepTimeout: 60 };
    expect((await runtimeFrom({ ...base, decodeCacheMb: 1.5 })).decodeCacheBytes).toBe(1.5 * 2 ** 20);
    expect((await runtimeFrom({ ...base, decodeCacheMb: 0 })).decodeCacheBytes).toBe(0);
    expect((await runtimeFrom(base)).decodeCacheBytes).toBe(defaultDecodeCacheBytes(1, os.totalmem()));
    expect((await runtimeFrom({ ...base, workers: 4 })).decodeCacheBytes).toBe(defaultDecodeCacheBytes(4, os.totalmem()));
    await expect(runtimeFrom({ ...base, decodeCacheMb: -1 })).rejects.toThrow(/--decode-cache-mb must be 0 or more, got -1/);
  });
  it('the default decode cache is 2048 MiB per replica, all replicas together at most 1/8 of memory', () => {
    const GiB = 2 ** 30;
    expect(DEFAULT_DECODE_CACHE_MB).toBe(2048);
    expect(defaultDecodeCacheBytes(1, 24 * GiB)).toBe(2048 * 2 ** 20); // 3 GiB share, capped at 2 GiB
    expect(defaultDecodeCacheBytes(2, 24 * GiB)).toBe(1.5 * GiB);
    expect(defaultDecodeCacheBytes(16, 24 * GiB)).toBe(192 * 2 ** 20);
    expect(defaultDecodeCacheBytes(1, 8 * GiB)).toBe(GiB);
  });
});
