// Point-to-point links between workers: a MessagePort (worker threads) or a Unix-domain
// socket with length-prefixed frames (worker processes). Both deliver whole frames in
// order; `recv()` waits for the next one.
import net from 'node:net';
import type { MessagePort } from 'node:worker_threads';

export interface Link {
  /**
   * Queues one frame to the peer (never blocks). `owned`: the caller hands the frame's
   * whole buffer over (it will not touch it again), so a port may transfer it, not copy.
   */
  send(frame: Uint8Array, owned?: boolean): void;
  /** The next frame from the peer; rejects when the link closes or fails. */
  recv(): Promise<Uint8Array>;
  /** Bytes handed to send() so far. */
  readonly bytesSent: number;
  close(): void;
}

/** A link described for the ring: who is on the other side (for error messages). */
export interface NamedLink { link: Link; peer: string }

abstract class QueuedLink implements Link {
  private queue: Uint8Array[] = [];
  private waiters: { resolve: (f: Uint8Array) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | null = null;
  bytesSent = 0;

  constructor(protected readonly name: string) {}

  protected deliver(frame: Uint8Array): void {
    const w = this.waiters.shift();
    if (w) w.resolve(frame);
    else this.queue.push(frame);
  }

  protected fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    for (const w of this.waiters.splice(0)) w.reject(e);
  }

  recv(): Promise<Uint8Array> {
    const f = this.queue.shift();
    if (f) return Promise.resolve(f);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  abstract send(frame: Uint8Array, owned?: boolean): void;
  abstract close(): void;
}

/** A link over a MessagePort (between worker threads, or within one thread for tests). */
export class PortLink extends QueuedLink {
  constructor(private readonly port: MessagePort, name: string) {
    super(name);
    port.on('message', (m: unknown) => {
      if (m instanceof Uint8Array) this.deliver(m);
      else this.fail(new Error(`${this.name}: unexpected message of type ${typeof m}`));
    });
    port.on('close', () => this.fail(new Error(`${this.name}: the peer closed the channel (worker gone?)`)));
    port.on('messageerror', (e: Error) => this.fail(new Error(`${this.name}: message could not be deserialised (${e.message})`)));
  }

  send(frame: Uint8Array, owned = false): void {
    this.bytesSent += frame.byteLength;
    if (owned && frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength && frame.buffer instanceof ArrayBuffer) {
      this.port.postMessage(frame, [frame.buffer]);
    } else {
      this.port.postMessage(frame);
    }
  }

  close(): void {
    this.fail(new Error(`${this.name}: closed`));
    this.port.close();
  }
}

/** A link over a stream socket: each frame is a 4-byte little-endian length + the bytes. */
export class SocketLink extends QueuedLink {
  /** the 4-byte length prefix being read (it may arrive split across chunks) */
  private readonly header = new Uint8Array(4);
  private headerFill = 0;
  /** the frame being filled: each byte is copied once, from the socket's chunk into it */
  private frame: Uint8Array | null = null;
  private frameFill = 0;

  constructor(private readonly socket: net.Socket, name: string) {
    super(name);
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e: Error) => this.fail(new Error(`${this.name}: socket error (${e.message})`)));
    socket.on('close', () => this.fail(new Error(`${this.name}: the peer closed the connection (worker gone?)`)));
  }

  private onData(d: Buffer): void {
    let at = 0;
    while (at < d.length) {
      if (!this.frame) {
        const n = Math.min(4 - this.headerFill, d.length - at);
        this.header.set(d.subarray(at, at + n), this.headerFill);
        this.headerFill += n;
        at += n;
        if (this.headerFill < 4) return;
        this.headerFill = 0;
        // the frame owns its memory (the socket's chunks get reused)
        this.frame = new Uint8Array(new DataView(this.header.buffer).getUint32(0, true));
        this.frameFill = 0; // (an empty frame completes just below, in this same pass)
      }
      const n = Math.min(this.frame.length - this.frameFill, d.length - at);
      this.frame.set(d.subarray(at, at + n), this.frameFill);
      this.frameFill += n;
      at += n;
      if (this.frameFill === this.frame.length) {
        const done = this.frame;
        this.frame = null;
        this.deliver(done);
      }
    }
  }

  send(frame: Uint8Array): void {
    const header = Buffer.allocUnsafe(4);
    header.writeUInt32LE(frame.byteLength, 0);
    this.bytesSent += frame.byteLength + 4;
    this.socket.cork(); // header and frame leave in one write
    this.socket.write(header);
    this.socket.write(frame);
    this.socket.uncork();
  }

  close(): void {
    this.fail(new Error(`${this.name}: closed`));
    this.socket.destroy();
  }
}

/**
 * Listens on a Unix socket path and resolves with the first connection (the ring's
 * previous rank connects here). The hello frame carries the connecting rank.
 */
export function listenForPeer(socketPath: string): { ready: Promise<void>; accepted: Promise<{ socket: net.Socket; server: net.Server }> } {
  const server = net.createServer();
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => { readyResolve = res; readyReject = rej; });
  const accepted = new Promise<{ socket: net.Socket; server: net.Server }>((resolve, reject) => {
    server.once('connection', (socket) => {
      server.close();
      resolve({ socket, server });
    });
    server.once('error', (e) => { readyReject(e); reject(e); });
  });
  accepted.catch(() => undefined);
  ready.catch(() => undefined);
  server.listen(socketPath, () => readyResolve());
  server.unref();
  return { ready, accepted };
}

export function connectToPeer(socketPath: string, timeoutMs = 10_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    const t = setTimeout(() => { s.destroy(); reject(new Error(`could not connect to ${socketPath} in ${timeoutMs} ms`)); }, timeoutMs);
    s.once('connect', () => { clearTimeout(t); resolve(s); });
    s.once('error', (e) => { clearTimeout(t); reject(e); });
  });
}
