/// <reference lib="dom" />
/**
 * The page's side of the wire: JSON GETs, event writes through an outbox kept in IndexedDB
 * (an action is stored before it is sent and deleted only once the server has answered,
 * so a closed tab or a dropped connection loses nothing: the outbox is replayed on load),
 * and the live stream of the annotator's changes made in other tabs.
 */
import { REVIEW_WRITE_HEADER, type ConflictAnswer, type EventAnswer, type ReviewEventRequest, type StreamMessage } from '../api.js';

export async function getJson<T>(path: string): Promise<T> {
  const r = await fetch(path, { credentials: 'same-origin' });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${(await r.text()).slice(0, 200)}`);
  return (await r.json()) as T;
}

export type SendResult =
  | { kind: 'saved'; answer: EventAnswer }
  | { kind: 'conflict'; answer: ConflictAnswer }
  | { kind: 'refused'; status: number; error: string }
  | { kind: 'offline'; error: string };

export async function postEvent(req: ReviewEventRequest): Promise<SendResult> {
  let r: Response;
  try {
    r = await fetch('/api/events', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', [REVIEW_WRITE_HEADER]: '1' },
      body: JSON.stringify(req),
    });
  } catch (e) {
    return { kind: 'offline', error: String(e) };
  }
  if (r.status === 200) return { kind: 'saved', answer: (await r.json()) as EventAnswer };
  if (r.status === 409) return { kind: 'conflict', answer: (await r.json()) as ConflictAnswer };
  if (r.status >= 500) return { kind: 'offline', error: `server error ${r.status}` };
  let error = `${r.status}`;
  try { error = ((await r.json()) as { error?: string }).error ?? error; } catch { /* not JSON */ }
  return { kind: 'refused', status: r.status, error };
}

/* ---- the outbox (IndexedDB) ---- */

export interface OutboxEntry {
  id: string;
  annotator: string;
  /** insertion order */
  at: number;
  req: ReviewEventRequest;
}

const DB = 'gradia-review';
const STORE = 'outbox';

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(DB, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE, { keyPath: 'id' });
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function tx<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  return openDb().then(
    (db) =>
      new Promise<T>((resolve, reject) => {
        const t = db.transaction(STORE, mode);
        const req = f(t.objectStore(STORE));
        t.oncomplete = () => {
          db.close();
          resolve(req.result);
        };
        t.onerror = () => {
          db.close();
          reject(t.error);
        };
      }),
  );
}

export const outbox = {
  put: (e: OutboxEntry) => tx('readwrite', (s) => s.put(e)).then(() => undefined),
  delete: (id: string) => tx('readwrite', (s) => s.delete(id)).then(() => undefined),
  async list(annotator: string): Promise<OutboxEntry[]> {
    const all = (await tx('readonly', (s) => s.getAll())) as OutboxEntry[];
    return all.filter((e) => e.annotator === annotator).sort((a, b) => a.at - b.at);
  },
};

export function newEventId(): string {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Server-sent events of this annotator's saved changes (the browser reconnects by itself). */
export function openStream(onMessage: (m: StreamMessage) => void): EventSource {
  const es = new EventSource('/api/stream');
  es.onmessage = (ev) => {
    try { onMessage(JSON.parse(ev.data as string) as StreamMessage); } catch { /* ignore a bad line */ }
  };
  return es;
}
