// Filesystem errors as one line naming the file: Node's own messages name the syscall
// ("ENOSPC: no space left on device, write") but not always the path, and a temp file's
// name is not the one the user knows.
import fs from 'node:fs';
import path from 'node:path';
import { GradiaInputError } from './errors.js';

/** "no space left on device (ENOSPC)" from a Node filesystem error. */
export function fsReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const msg = String(err?.message ?? e);
  // libuv's text sits between "CODE: " and ", syscall ...".
  const m = /^[A-Z0-9_]+: (.*?)(?:, \w+(?: '.*')?)?$/.exec(msg.split('\n')[0]!);
  const text = m ? m[1]! : msg.split('\n')[0]!;
  return code ? `${text} (${code})` : text;
}

/** A failed write of `file` (the name the user knows, not a temp file's). */
export class FileWriteError extends Error {
  readonly code: string | undefined;
  constructor(readonly file: string, readonly cause: unknown) {
    super(`${file}: ${fsReason(cause)}`);
    this.name = 'FileWriteError';
    this.code = (cause as NodeJS.ErrnoException)?.code;
  }
}

/**
 * Makes sure `dir` exists and is writable: creates it (and its parents), then writes,
 * fsyncs and removes a probe file. Throws a GradiaInputError naming `flag` and the
 * directory that could not be created or written, and why.
 */
export function ensureWritableDir(dir: string, flag: string): void {
  const abs = path.resolve(dir);
  // The deepest part of the path that exists says more than mkdir's ENOENT.
  let existing = abs;
  while (!fs.existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
  let st: fs.Stats | null = null;
  try { st = fs.statSync(existing); } catch { /* reported by mkdir below */ }
  if (st && !st.isDirectory()) {
    throw new GradiaInputError(null, `${flag} ${dir}: cannot create directory: ${existing} is a file, not a directory`);
  }
  // One level at a time: a recursive mkdir reports ENOENT where the real cause is, e.g.,
  // EROFS or EACCES on the first directory it had to make.
  let cur = existing;
  for (const part of path.relative(existing, abs).split(path.sep).filter(Boolean)) {
    cur = path.join(cur, part);
    try {
      fs.mkdirSync(cur);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(cur).isDirectory()) continue;
      throw new GradiaInputError(null, `${flag} ${dir}: cannot create directory ${cur}: ${fsReason(e)}`);
    }
  }
  if (!fs.statSync(abs).isDirectory()) throw new GradiaInputError(null, `${flag} ${dir}: is a file, not a directory`);
  const probe = path.join(abs, `.gradia-probe-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    const fd = fs.openSync(probe, 'wx');
    try {
      fs.writeSync(fd, 'probe\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.rmSync(probe);
  } catch (e) {
    try { fs.rmSync(probe, { force: true }); } catch { /* the write failed: nothing to remove */ }
    throw new GradiaInputError(null, `${flag} ${dir}: cannot write in ${abs}: ${fsReason(e)}`);
  }
}
