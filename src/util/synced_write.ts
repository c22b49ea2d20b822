// Writes that are on disk before they return (journals, staged label files, checkpoints).
import fs from 'node:fs';
import { FileWriteError } from './fs_errors.js';

/** Writes every byte of `data` at the descriptor's position, then fsyncs it. */
export function writeAllSynced(fd: number, data: Buffer): void {
  for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off, data.length - off);
  fs.fsyncSync(fd);
}

/**
 * Appends one line to an append-mode descriptor and fsyncs it. A failed write (disk full)
 * is cut back off, so no half line is left for the next append to follow.
 */
export function appendLineSynced(fd: number, line: string): void {
  const before = fs.fstatSync(fd).size;
  try {
    writeAllSynced(fd, Buffer.from(`${line}\n`));
  } catch (e) {
    try { fs.ftruncateSync(fd, before); } catch { /* a torn line is cut when the journal is next opened */ }
    throw e;
  }
}

/** fsyncs a directory after a rename in it (not every filesystem allows that: then a no-op). */
export function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  } catch { /* directories cannot be fsynced everywhere */ }
}

/** Creates (or replaces) `file` with `data`, fsynced; a failure is a FileWriteError naming the file. */
export function writeFileSynced(file: string, data: Buffer | string): void {
  try {
    const fd = fs.openSync(file, 'w');
    try {
      writeAllSynced(fd, typeof data === 'string' ? Buffer.from(data) : data);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    throw new FileWriteError(file, e);
  }
}
