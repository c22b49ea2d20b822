// A fresh temporary folder with a generated data set in it (`make-data` through the CLI).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './cli.js';

export interface MadeDataSet { dir: string; data: string }

/** `negatives`: make-data --negative-maps (the context patch marked -1 in the human maps). */
export function makeDataSet(prefix: string, o: { train: number; val: number; test: number; size: number; seed: number; negatives?: boolean }): MadeDataSet {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const data = path.join(dir, 'data');
  const made = runCli(['make-data', '--out', data, '--train', String(o.train), '--val', String(o.val), '--test', String(o.test), '--size', String(o.size), '--seed', String(o.seed), ...(o.negatives ? ['--negative-maps'] : [])]);
  if (made.code !== 0) throw new Error(`make-data failed (exit ${made.code}): ${made.stderr}`);
  return { dir, data };
}
