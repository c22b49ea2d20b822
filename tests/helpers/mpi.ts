// Runs the compiled CLI under Open MPI's mpirun on this machine (tests/mpi_*.test.ts).
// In CI (env CI set) Open MPI and the addon must be there: a missing one fails the suite
// instead of skipping it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { mpiAddonPath } from '../../src/comm/mpi.js';
import { repoRoot } from '../../src/util/paths.js';
import { CLI, type CliResult } from './cli.js';
import { MPI_ROOT_ENV } from './netns.js';

/** Why MPI tests cannot run here, or null when they can. */
export function mpiMissing(): string | null {
  const r = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)';
  if (!fs.existsSync(mpiAddonPath())) return `the Open MPI addon is not built (${mpiAddonPath()}): node scripts/build-native.mjs`;
  return null;
}

/** Skip locally, fail in CI. */
export function requireMpi(): boolean {
  const why = mpiMissing();
  if (why && process.env.CI) throw new Error(`MPI tests cannot run: ${why}`);
  return why === null;
}

// 3 ranks on a 2-core machine: oversubscribe; no core binding (ranks share the cores).
const MPIRUN_FLAGS = ['--oversubscribe', '--bind-to', 'none'];

/** `mpirun -np N gradia-dist <args>` (or an MPMD list of [np, args] apps), to completion. */
export function runMpi(apps: [number, string[]][], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync('mpirun', mpirunArgs(apps), {
    cwd: repoRoot, encoding: 'utf8', timeout: opts.timeoutMs ?? 240_000, env: { ...process.env, ...MPI_ROOT_ENV, ...opts.env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function startMpi(np: number, args: string[]): ChildProcess {
  return spawn('mpirun', mpirunArgs([[np, args]]), { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...MPI_ROOT_ENV } });
}

function mpirunArgs(apps: [number, string[]][]): string[] {
  const out = [...MPIRUN_FLAGS];
  apps.forEach(([np, args], i) => {
    if (i > 0) out.push(':');
    out.push('-np', String(np), process.execPath, CLI, ...args);
  });
  return out;
}

/** Collects a child's stderr; resolves when `pattern` appears (rejects when the child ends first). */
export function waitForStderr(child: ChildProcess, pattern: RegExp, timeoutMs = 180_000): { text: () => string; until: Promise<RegExpMatchArray> } {
  let buf = '';
  const listeners: (() => void)[] = [];
  child.stderr!.on('data', (d: Buffer) => { buf += d.toString(); for (const l of listeners) l(); });
  const until = new Promise<RegExpMatchArray>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; stderr so far:\n${buf}`)), timeoutMs);
    const check = (): void => {
      const m = buf.match(pattern);
      if (m) { clearTimeout(t); resolve(m); }
    };
    listeners.push(check);
    child.once('exit', () => { clearTimeout(t); setTimeout(() => reject(new Error(`mpirun ended before ${pattern}; stderr:\n${buf}`)), 50); });
  });
  until.catch(() => undefined);
  return { text: () => buf, until };
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once('exit', (code) => r(code)));
}

/** The pid of `rank` from the world lines the run prints at start ("rank 1: host vm, pid 123, ..."). */
export function rankPid(stderr: string, rank: number): number {
  const m = new RegExp(`^rank ${rank}: host [^,]+, pid (\\d+)`, 'm').exec(stderr);
  if (!m) throw new Error(`no world line for rank ${rank} in:\n${stderr}`);
  return Number(m[1]);
}
