// One run per model dir: `train` holds <model-dir>/gradia-dist.lock for its whole run, so a
// second run on the same dir stops at once instead of overwriting the first one's
// checkpoints. The lock is created atomically (written to a temp file, then hard-linked
// into place, which fails if it exists), holds pid, host, start time and command, and is
// removed on exit, on errors and on SIGINT/SIGTERM/SIGHUP. A lock left by a dead process
// on this host is taken over; one from another host is never taken over.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TEMP_FILE_PATTERN } from '../model/safetensors.js';
import { GradiaInputError } from '../util/errors.js';
import { ensureWritableDir, fsReason } from '../util/fs_errors.js';

export const LOCK_FILE = 'gradia-dist.lock';

export interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
  /** Linux: boot id and the process's start time (clock ticks after boot), to tell a reused pid. */
  bootId?: string;
  procStart?: string;
  token: string;
}

export interface ModelDirLock {
  file: string;
  info: LockInfo;
  release(): void;
}

function readText(file: string): string | undefined {
  try { return fs.readFileSync(file, 'utf8').trim(); } catch { return undefined; }
}

const bootId = () => readText('/proc/sys/kernel/random/boot_id');

/** Field 22 of /proc/<pid>/stat (after the parenthesised command, which may hold spaces). */
function procStart(pid: number): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Whether the process that wrote `info` (on this host) still runs. A pid that is alive
 * but started at another time, or a lock from before the last boot, is a dead writer.
 */
export function writerAlive(info: Pick<LockInfo, 'pid' | 'bootId' | 'procStart'>): boolean {
  if (!pidAlive(info.pid)) return false;
  const boot = bootId();
  if (info.bootId && boot && info.bootId !== boot) return false;
  const start = procStart(info.pid);
  if (info.procStart && start && info.procStart !== start) return false;
  return true;
}

function parseLock(text: string | undefined): LockInfo | null {
  if (text === undefined) return null;
  try {
    const v = JSON.parse(text) as LockInfo;
    if (v && typeof v === 'object' && Number.isInteger(v.pid) && typeof v.host === 'string' && typeof v.token === 'string') return v;
  } catch { /* not ours */ }
  return null;
}

/** The lock on `dir` when another live process on this host, or any process on another host, holds it. */
export function lockHeldByOther(dir: string): LockInfo | null {
  const info = parseLock(readText(path.join(dir, LOCK_FILE)));
  if (!info) return null;
  if (info.host !== os.hostname()) return info;
  if (info.pid === process.pid && held.has(path.resolve(dir, LOCK_FILE))) return null;
  return writerAlive(info) ? info : null;
}

// Locks this process holds (absolute lock file -> token), released on exit and signals.
const held = new Map<string, string>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function releaseFile(file: string, token: string): void {
  held.delete(file);
  // Remove it only while it is still ours (a stale-lock takeover may have replaced it).
  if (parseLock(readText(file))?.token === token) {
    try { fs.rmSync(file, { force: true }); } catch { /* best effort at exit */ }
  }
  if (held.size === 0) uninstallHandlers();
}

function releaseAll(): void {
  for (const [file, token] of [...held]) releaseFile(file, token);
}

function onSignal(signal: NodeJS.Signals): void {
  releaseAll();
  // Default behaviour when no one else listens: die by the same signal (exit code 128+n).
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

let installed = false;
function installHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', releaseAll);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstallHandlers(): void {
  if (!installed) return;
  installed = false;
  process.removeListener('exit', releaseAll);
  for (const s of SIGNALS) process.removeListener(s, onSignal);
}

const describe = (info: LockInfo) => `pid ${info.pid} on host ${info.host} since ${info.startedAt}${info.command ? ` (${info.command})` : ''}`;

/** Creates `file` holding `text` only if it does not exist; false when it does. */
function createExclusive(file: string, text: string): boolean {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  fs.writeFileSync(tmp, text);
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // No hard links on this filesystem: O_EXCL create (the content follows at once).
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
      let fd: number;
      try { fd = fs.openSync(file, 'wx'); } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw e2;
      }
      try { fs.writeSync(fd, text); } finally { fs.closeSync(fd); }
      return true;
    }
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Takes the model dir's lock for this process: checks that the dir can be created and
 * written, creates the lock, takes over a stale one (`log` says so) and removes temp files
 * of dead runs. Throws a GradiaInputError naming the lock file when another run holds it.
 */
export function acquireModelDirLock(dir: string, opts: { command?: string; log?: (line: string) => void } = {}): ModelDirLock {
  ensureWritableDir(dir, '--model-dir');
  const file = path.resolve(dir, LOCK_FILE);
  const shown = path.join(dir, LOCK_FILE);
  const info: LockInfo = {
    pid: process.pid,
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    command: opts.command ?? ['gradia-dist', ...process.argv.slice(2)].join(' '),
    bootId: bootId(),
    procStart: procStart(process.pid),
    token: crypto.randomBytes(8).toString('hex'),
  };
  const text = `${JSON.stringify(info, null, 2)}\n`;
  for (let attempt = 0; ; attempt++) {
    let created: boolean;
    try {
      created = createExclusive(file, text);
    } catch (e) {
      throw new GradiaInputError(shown, `cannot create the lock: ${fsReason(e)}`);
    }
    if (created) break;
    const raw = readText(file);
    if (raw === undefined) continue; // released between our attempt and the read
    const other = parseLock(raw);
    if (!other) throw new GradiaInputError(shown, `exists but is not a gradia-dist lock; if no run uses ${dir}, delete it and rerun`);
    if (other.host !== info.host) {
      throw new GradiaInputError(shown, `in use by ${describe(other)}; a lock from another host is not taken over: if that run has ended, delete ${shown} and rerun`);
    }
    // Our own pid in a lock we do not hold: a dead run's (pids are reused, e.g. in containers).
    const alive = other.pid === process.pid ? held.has(file) : writerAlive(other);
    if (alive) throw new GradiaInputError(shown, `in use by ${describe(other)}`);
    if (attempt >= 3) throw new GradiaInputError(shown, 'could not take over the stale lock (another run keeps replacing it)');
    // Stale: move it aside, and make sure what we moved is the stale lock we judged (a
    // concurrent run may have taken it over in between; then put theirs back).
    const aside = `${file}.stale-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
    try { fs.renameSync(file, aside); } catch { continue; }
    const moved = parseLock(readText(aside));
    if (moved?.token !== other.token) {
      try { fs.linkSync(aside, file); } catch { /* a third run holds it now */ }
      fs.rmSync(aside, { force: true });
      continue;
    }
    fs.rmSync(aside, { force: true });
    opts.log?.(`${shown}: taking over the stale lock of ${describe(other)}: that process has ended`);
  }
  held.set(file, info.token);
  installHandlers();
  const removed = removeStaleTempFiles(dir);
  if (removed.length) opts.log?.(`${dir}: removed ${removed.length} file(s) left by an interrupted run (${removed.slice(0, 3).join(', ')}${removed.length > 3 ? ', ...' : ''})`);
  return { file, info, release: () => { if (held.get(file) === info.token) releaseFile(file, info.token); } };
}

/**
 * Removes what interrupted checkpoint writes leave in `dir` (call it holding the lock,
 * before writing anything): atomicWrite's temp files `.<name>.tmp-<pid>-<random>` whose
 * writer is no longer alive (or is this process, which has written nothing yet), and the
 * `*.safetensors.next` files of a journal whose JSON never reached `*.json.next` (that
 * checkpoint was never committed; with the JSON present the journal rolls forward instead).
 * Returns the names removed.
 */
export function removeStaleTempFiles(dir: string): string[] {
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return []; }
  const present = new Set(names);
  const removed: string[] = [];
  for (const name of names) {
    const tmp = TEMP_FILE_PATTERN.exec(name);
    let stale = false;
    if (tmp) {
      const pid = Number(tmp[1]);
      stale = pid === process.pid || !pidAlive(pid);
    } else if (name.endsWith('.safetensors.next')) {
      // <ckpt>.safetensors.next or <ckpt>.optim.safetensors.next; the journal's commit record is <ckpt>.json.next.
      const base = name.slice(0, -'.safetensors.next'.length);
      const owners = [base, base.endsWith('.optim') ? base.slice(0, -'.optim'.length) : null].filter((x): x is string => x !== null);
      stale = owners.every((o) => !present.has(`${o}.json.next`));
    }
    if (!stale) continue;
    try {
      if (fs.lstatSync(path.join(dir, name)).isFile()) {
        fs.rmSync(path.join(dir, name));
        removed.push(name);
      }
    } catch { /* gone already */ }
  }
  return removed;
}
