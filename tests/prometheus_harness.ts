// Test helper: a real Prometheus (Debian's `prometheus` package) on loopback, scraping
// one gradia-dist metrics endpoint every second, queried through its HTTP API.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../src/util/paths.js';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? 'prometheus';
export const PROMTOOL_BIN = process.env.PROMTOOL_BIN ?? 'promtool';

export function hasBinary(bin: string): boolean {
  const r = spawnSync(bin, ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a value other than undefined, or throws after timeoutMs with `what`. */
export async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(everyMs);
  }
}

/**
 * monitoring/prometheus.yml for a test: scrape (and evaluation) interval `interval` (a
 * Prometheus duration, 1s by default) and the default target 127.0.0.1:9464 replaced by `target`.
 */
export function testPrometheusConfig(target: string, interval = '1s'): string {
  const src = fs.readFileSync(path.join(repoRoot, 'monitoring', 'prometheus.yml'), 'utf8');
  let out = src.replace(/(^\s*scrape_interval:\s*)\S+/m, `$1${interval}`).replace(/(^\s*evaluation_interval:\s*)\S+/m, `$1${interval}`);
  const before = out;
  out = out.replace(/(['"]?)(127\.0\.0\.1|localhost):9464\1/g, `'${target}'`);
  if (out === before) throw new Error('monitoring/prometheus.yml has no 127.0.0.1:9464 target to replace');
  if (!out.includes(`scrape_interval: ${interval}`)) throw new Error('monitoring/prometheus.yml has no global scrape_interval to replace');
  return out;
}

export interface PromQueryResult {
  resultType: string;
  result: Array<{ metric: Record<string, string>; value: [number, string] }>;
}

export class PrometheusServer {
  private constructor(readonly url: string, private readonly child: ChildProcess, private readonly dir: string, readonly log: () => string) {}

  /** Starts Prometheus with `configText` on a free loopback port and a temporary storage dir; resolves when ready. */
  static async start(configText: string): Promise<PrometheusServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-prom-'));
    const config = path.join(dir, 'prometheus.yml');
    fs.writeFileSync(config, configText);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let log = '';
    const child = spawn(PROMETHEUS_BIN, [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    const server = new PrometheusServer(url, child, dir, () => log);
    try {
      await waitFor('Prometheus to be ready', 30_000, async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${log.slice(-2000)}`);
        const r = await fetch(`${url}/-/ready`);
        return r.status === 200 ? true : undefined;
      }, 100);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** An instant query; throws unless Prometheus answers status "success". */
  async query(expr: string): Promise<PromQueryResult> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data: PromQueryResult };
    if (body.status !== 'success') throw new Error(`query failed: ${expr}: ${body.error ?? res.status}`);
    return body.data;
  }

  /** The first value of an instant query (NaN when it is empty). */
  async scalar(expr: string): Promise<number> {
    const d = await this.query(expr);
    return d.result.length ? Number(d.result[0]!.value[1]) : NaN;
  }

  /** Health of the scrape targets. */
  async targets(): Promise<Array<{ health: string; lastError: string; scrapeUrl: string }>> {
    const res = await fetch(`${this.url}/api/v1/targets`);
    const body = (await res.json()) as { data: { activeTargets: Array<{ health: string; lastError: string; scrapeUrl: string }> } };
    return body.data.activeTargets;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
      this.child.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
