// Several "hosts" on one machine: Linux network namespaces joined by veth pairs to a bridge
// (the bridge lives in a namespace of its own), so that Open MPI's multi-host path — a
// hostfile, the rsh launcher, TCP between distinct addresses — runs without a cluster.
//
// Layout of one set (`id` = gdt-<pid>-<n>, unique per process and call):
//   <id>-br            namespace holding bridge `br0` and the bridge ends `h1`, `h2`, ...
//   <id>-10.213.0.<k>  one per host: `lo` up, `eth0` (veth peer of `h<k>`) with 10.213.0.<k>/24
// Nothing is created in the host's own namespace: every link and tc qdisc lives inside the
// namespaces, so deleting them removes everything. Processes run on a host through
// `ip netns exec <ns> unshare --uts`, with their own hostname `gdt-node<k>` so that messages
// naming a host can be told apart. mpirun's rsh agent is a two-line script mapping the
// hostfile's address to its namespace (no ssh).
//
// Safety: only 10.213.0.0/24 inside these namespaces is ever used (checked unused on the host
// first); `close()` runs on normal exit, on SIGINT/SIGTERM, and a later process sweeps sets
// whose creating pid is gone (`sweepStaleHosts`).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const PREFIX = 'gdt-';
const SUBNET_BASE = '10.213.0';
const SUBNET = `${SUBNET_BASE}.0/24`;

/** Environment Open MPI needs to run as root (CI runs as root to create namespaces). */
export const MPI_ROOT_ENV = { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' } as const;

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Whether this machine can build namespace hosts and run mpirun in them; `why` when not. */
export function netnsSupport(): { ok: true } | { ok: false; why: string } {
  if (process.platform !== 'linux') return { ok: false, why: 'network namespaces need Linux' };
  if (process.getuid?.() !== 0) return { ok: false, why: 'creating network namespaces needs root' };
  const needed = { ip: 'iproute2', tc: 'iproute2', unshare: 'util-linux', mpirun: 'openmpi-bin' };
  for (const [cmd, pkg] of Object.entries(needed)) {
    if (!has(cmd)) return { ok: false, why: `\`${cmd}\` is not installed (Debian package ${pkg})` };
  }
  return { ok: true };
}

/** Namespace names under our prefix (`ip netns list` prints "name (id: n)"). */
function listNamespaces(): string[] {
  return run('ip', ['netns', 'list'])
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(PREFIX));
}

/** Links in the host's own namespace whose name starts with the prefix (there should be none). */
function listRootLinks(): string[] {
  return run('ip', ['-o', 'link', 'show'])
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n.startsWith('gdt'));
}

/** Every gdt-* object left on the machine: namespaces and host-namespace links. */
export function leftoverObjects(): string[] {
  return [...listNamespaces().map((n) => `netns ${n}`), ...listRootLinks().map((n) => `link ${n}`)];
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills what still runs inside a namespace we made (its orted, its ranks), then deletes it. */
function deleteNamespace(ns: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
  for (const p of pids.split('\n').map(Number).filter((p) => p > 0 && p !== process.pid)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
}

/** Removes namespace sets left by processes that are gone (a crashed test). Returns what it removed. */
export function sweepStaleHosts(): string[] {
  const removed: string[] = [];
  for (const ns of listNamespaces()) {
    const pid = Number(/^gdt-(\d+)-/.exec(ns)?.[1]);
    if (pid > 0 && (pid === process.pid ? !live.some((h) => h.namespaces.includes(ns)) : !pidAlive(pid))) {
      deleteNamespace(ns);
      removed.push(ns);
    }
  }
  // the agent script and hostfile folders of those sets (a killed process could not remove them)
  for (const name of fs.readdirSync(os.tmpdir())) {
    const pid = Number(/^gdt-(\d+)-\d+-/.exec(name)?.[1]);
    if (pid > 0 && pid !== process.pid && !pidAlive(pid)) fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
  return removed;
}

/** Sets alive in this process, closed on exit and on SIGINT/SIGTERM. */
const live: NetnsHosts[] = [];
let handlersInstalled = false;
let counter = 0;

function installCleanup(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const h of [...live]) h.close();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const h of [...live]) h.close();
      process.kill(process.pid, sig); // the default action, now that our handler is gone
    });
  }
}

export interface NetnsHosts {
  readonly id: string;
  /** host k's address, k = 0.. (10.213.0.1, 10.213.0.2, ...) */
  readonly addresses: string[];
  /** host k's namespace */
  readonly namespaces: string[];
  /** host k's hostname inside its UTS namespace */
  readonly hostnames: string[];
  readonly bridgeNamespace: string;
  readonly subnet: string;
  /** temp folder holding the agent script and the hostfile */
  readonly dir: string;
  readonly agentScript: string;
  readonly hostfile: string;
  /** argv that runs `argv` on host k (its namespace, its hostname) */
  onHost(k: number, argv: string[]): string[];
  /** mpirun's options for these hosts: hostfile, rsh agent, TCP only on the test subnet */
  mpirunOptions(): string[];
  /** Caps host k's outgoing traffic with a token bucket (`rate` in tc's syntax, e.g. 200mbit). */
  capLink(k: number, rate: string): void;
  uncapLink(k: number): void;
  /** Deletes every namespace (with its links and qdiscs) and the temp folder. Idempotent. */
  close(): void;
}

/** Fails with one line when 10.213.0.0/24 is in use on the host (then pick another range). */
function checkRangeUnused(): void {
  const text = run('ip', ['-o', 'addr', 'show']) + run('ip', ['route', 'show', 'table', 'all']);
  if (text.includes(`${SUBNET_BASE}.`)) throw new Error(`netns hosts: ${SUBNET} is already used on this machine; not creating test hosts`);
}

/** Builds `count` namespace hosts on one bridge. Throws (after removing what it made) on failure. */
export function createHosts(count: number): NetnsHosts {
  const support = netnsSupport();
  if (!support.ok) throw new Error(`netns hosts: ${support.why}`);
  if (!(count >= 1 && count <= 8)) throw new Error(`netns hosts: 1..8 hosts (got ${count})`);
  installCleanup();
  sweepStaleHosts();
  checkRangeUnused();
  const id = `${PREFIX}${process.pid}-${counter++}`;
  const addresses = Array.from({ length: count }, (_, k) => `${SUBNET_BASE}.${k + 1}`);
  const namespaces = addresses.map((a) => `${id}-${a}`);
  const hostnames = addresses.map((_, k) => `gdt-node${k + 1}`);
  const bridgeNamespace = `${id}-br`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${id}-`));
  const agentScript = path.join(dir, 'netns-agent.sh');
  const hostfile = path.join(dir, 'hostfile');
  let closed = false;
  const made: string[] = [];

  const hosts: NetnsHosts = {
    id,
    addresses,
    namespaces,
    hostnames,
    bridgeNamespace,
    subnet: SUBNET,
    dir,
    agentScript,
    hostfile,
    onHost: (k, argv) => ['ip', 'netns', 'exec', namespaces[k]!, 'unshare', '--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', hostnames[k]!, ...argv],
    mpirunOptions: () => [
      '--hostfile', hostfile,
      '--mca', 'plm_rsh_agent', agentScript,
      // ob1 so that the btl choice rules (Debian's build also has the UCX pml)
      '--mca', 'pml', 'ob1',
      '--mca', 'btl', 'tcp,self',
      '--mca', 'btl_tcp_if_include', SUBNET,
      '--mca', 'oob_tcp_if_include', SUBNET,
    ],
    capLink(k, rate) {
      // burst of ~4 ms at the rate (at least 32 KiB) so the bucket, not the timer, sets the pace
      const bits = parseRate(rate);
      const burst = Math.max(32 * 1024, Math.round((bits / 8) * 0.004));
      run('ip', ['netns', 'exec', namespaces[k]!, 'tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', rate, 'burst', String(burst), 'latency', '50ms']);
    },
    uncapLink(k) {
      spawnSync('ip', ['netns', 'exec', namespaces[k]!, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root'], { stdio: 'ignore' });
    },
    close() {
      if (closed) return;
      closed = true;
      for (const ns of [...made].reverse()) deleteNamespace(ns);
      fs.rmSync(dir, { recursive: true, force: true });
      const i = live.indexOf(hosts);
      if (i >= 0) live.splice(i, 1);
    },
  };
  live.push(hosts);

  try {
    const br = bridgeNamespace;
    run('ip', ['netns', 'add', br]);
    made.push(br);
    run('ip', ['-n', br, 'link', 'set', 'lo', 'up']);
    run('ip', ['-n', br, 'link', 'add', 'br0', 'type', 'bridge']);
    run('ip', ['-n', br, 'link', 'set', 'br0', 'up']);
    for (let k = 0; k < count; k++) {
      const ns = namespaces[k]!;
      run('ip', ['netns', 'add', ns]);
      made.push(ns);
      // both ends are born inside namespaces: nothing ever appears in the host's namespace
      run('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `h${k + 1}`, 'netns', br]);
      run('ip', ['-n', br, 'link', 'set', `h${k + 1}`, 'master', 'br0', 'up']);
      run('ip', ['-n', ns, 'addr', 'add', `${addresses[k]}/24`, 'dev', 'eth0']);
      run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    // The rsh agent: Open MPI calls it as `agent <host> <orted command...>`, like ssh.
    fs.writeFileSync(
      agentScript,
      `#!/bin/sh\nh=$1; shift; exec ip netns exec ${id}-$h unshare --uts sh -c "hostname gdt-node\${h##*.} && $*"\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(hostfile, addresses.map((a) => `${a} slots=1`).join('\n') + '\n');
  } catch (e) {
    hosts.close();
    const err = e as Error & { stderr?: string };
    throw new Error(`netns hosts: setup failed: ${(err.stderr || err.message).trim()}`);
  }
  return hosts;
}

/** tc's rate syntax (kbit, mbit, gbit; bit) in bits per second. */
export function parseRate(rate: string): number {
  const m = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/.exec(rate);
  if (!m) throw new Error(`netns hosts: rate "${rate}" is not like 100mbit`);
  const scale = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 }[m[2] as 'bit'];
  return Number(m[1]) * scale;
}

export interface Captured { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean }

/**
 * Runs argv (e.g. from `onHost`) to its end and captures its output; after `timeoutMs` its
 * process group is killed (mpirun and what it started) and `timedOut` is set.
 */
export function capture(argv: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number; onOutput?: (stdout: string, stderr: string) => void }): Promise<Captured> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...MPI_ROOT_ENV, ...opts.env }, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      opts.onOutput?.(stdout, stderr);
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      opts.onOutput?.(stdout, stderr);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}
