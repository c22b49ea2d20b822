// Small node:http helpers of the review server: JSON answers, capped JSON bodies, and the
// headers every answer carries.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GradiaInputError } from '../util/errors.js';

/** A request refused with a status and a one-line reason (sent as {"error": ...}). */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Headers on every answer: nothing cached, no sniffing, no framing, scripts only from this origin. */
export const BASE_HEADERS: Record<string, string> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

export function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string | string[]> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { ...BASE_HEADERS, 'content-type': type, 'content-length': String(buf.length), ...extra });
  res.end(buf);
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

/** Reads a JSON body of at most `cap` bytes (413 beyond it, 400 when it is not JSON). */
export async function readJsonBody(req: IncomingMessage, cap: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > cap) throw new HttpError(413, `body over ${cap} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > cap) throw new HttpError(413, `body over ${cap} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}

/** A server that could not listen for a reason the user fixes (address in use, not allowed, not on this machine) as a GradiaInputError; any other error as it is. */
export function listenError(e: unknown, host: string, port: number): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') return new GradiaInputError(null, `--host ${host} --port ${port}: cannot listen (${code})`);
  return e;
}
