/**
 * `<data-dir>/review/<model>/labels-first-seen/`: the label files the review step reads and
 * `--publish` replaces, as they were the first time this model was reviewed or published,
 * with a manifest of their sha256. Written once (staged, fsynced, renamed into place) and
 * never again, so whatever publishes and people do later, the original labels stay at hand.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ATTENTION_FILES } from '../data/attention.js';
import { REASONABILITY_FILE } from '../data/reasonability.js';
import { FileWriteError } from '../util/fs_errors.js';
import { fsyncDir, writeFileSynced } from '../util/synced_write.js';

export const FIRST_SEEN_FOLDER = 'labels-first-seen';
export const FIRST_SEEN_FILES: readonly string[] = [REASONABILITY_FILE, ATTENTION_FILES.val, ATTENTION_FILES.valUpdate, ATTENTION_FILES.valRemove];

export interface FirstSeen {
  dir: string;
  /** false when an earlier run kept them already */
  created: boolean;
}

/** Keeps the data dir's label files under `reviewDir` unless an earlier run did. */
export function keepFirstSeen(dataDir: string, reviewDir: string, now: Date = new Date()): FirstSeen {
  const dir = path.join(reviewDir, FIRST_SEEN_FOLDER);
  if (fs.existsSync(dir)) return { dir, created: false };
  const staging = path.join(reviewDir, `.${FIRST_SEEN_FOLDER}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  // a staging folder left by a crash is not the first-seen copy: start over
  for (const n of fs.readdirSync(reviewDir)) if (n.startsWith(`.${FIRST_SEEN_FOLDER}-`)) fs.rmSync(path.join(reviewDir, n), { recursive: true, force: true });
  const files: Record<string, string> = {};
  const absent: string[] = [];
  try {
    fs.mkdirSync(staging);
    for (const name of FIRST_SEEN_FILES) {
      const from = path.join(dataDir, name);
      if (!fs.existsSync(from)) {
        absent.push(name);
        continue;
      }
      const bytes = fs.readFileSync(from);
      files[name] = crypto.createHash('sha256').update(bytes).digest('hex');
      writeFileSynced(path.join(staging, name), bytes);
    }
    const manifest = { time: now.toISOString(), dataDir: path.resolve(dataDir), sha256: files, absent };
    writeFileSynced(path.join(staging, 'manifest.json'), Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`));
    fsyncDir(staging);
    fs.renameSync(staging, dir);
    fsyncDir(reviewDir);
  } catch (e) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw e instanceof FileWriteError ? e : new FileWriteError(dir, e);
  }
  return { dir, created: true };
}
