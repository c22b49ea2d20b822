// comlink Endpoints for Node: a worker_threads port (Worker / parentPort) and a
// child-process IPC channel (ChildProcess / process). The IPC channel must use
// `serialization: 'advanced'` so that typed arrays and Errors cross it intact.
import type { ChildProcess } from 'node:child_process';
import type * as Comlink from 'comlink';

type Listener = (ev: { data: unknown }) => void;
type AnyListener = EventListenerOrEventListenerObject;

interface NodeEmitterLike {
  on(type: 'message', fn: (m: unknown) => void): unknown;
  off(type: 'message', fn: (m: unknown) => void): unknown;
}

function makeEndpoint(target: NodeEmitterLike, post: (m: unknown, transfer?: Transferable[]) => void): Comlink.Endpoint {
  const wrapped = new Map<AnyListener, (m: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: Transferable[]) => post(message, transfer),
    addEventListener: (_type: string, listener: AnyListener) => {
      const fn = (m: unknown): void => {
        const ev = { data: m } as unknown as Event;
        if (typeof listener === 'function') (listener as unknown as Listener)(ev as unknown as { data: unknown });
        else listener.handleEvent(ev);
      };
      wrapped.set(listener, fn);
      target.on('message', fn);
    },
    removeEventListener: (_type: string, listener: AnyListener) => {
      const fn = wrapped.get(listener);
      if (fn) {
        target.off('message', fn);
        wrapped.delete(listener);
      }
    },
  };
}

/** Endpoint over a worker_threads Worker or MessagePort (parentPort). */
export function threadEndpoint(port: NodeEmitterLike & { postMessage(m: unknown, transfer?: readonly unknown[]): void }): Comlink.Endpoint {
  return makeEndpoint(port, (m, transfer) => port.postMessage(m, transfer as unknown[] | undefined));
}

/** Endpoint over a child process's IPC channel, from the parent's side. */
export function childProcessEndpoint(child: ChildProcess): Comlink.Endpoint {
  return makeEndpoint(child as unknown as NodeEmitterLike, (m) => {
    if (child.connected) child.send(m as never);
  });
}

/** Endpoint over this process's IPC channel to its parent (inside a forked worker). */
export function parentProcessEndpoint(): Comlink.Endpoint {
  if (!process.send) throw new Error('parentProcessEndpoint: this process has no IPC channel');
  return makeEndpoint(process as unknown as NodeEmitterLike, (m) => {
    if (process.connected) process.send!(m as never);
  });
}
