// Runs the compiled CLI (npm test builds it first) as a child process.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../../src/util/paths.js';

export const CLI = path.join(repoRoot, 'bin', 'gradia-dist.js');

export interface CliResult { code: number | null; stdout: string; stderr: string }

export function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? repoRoot, encoding: 'utf8', timeout: opts.timeoutMs ?? 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function startCli(args: string[], opts: { cwd?: string } = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The JSON object on the last line of stdout (the --json contract). */
export function lastJson(r: CliResult): Record<string, unknown> {
  const lines = r.stdout.trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
  } catch {
    throw new Error(`no JSON on the last line of stdout (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}
