/**
 * The review server's gate, checked on every request before any route: the Host header
 * (against DNS rebinding), the token (given once as ?token=, then an HttpOnly SameSite=Strict
 * cookie; compared in constant time), a path that never names a parent folder, and for
 * writes a same-origin Origin plus the custom header a cross-site form cannot send.
 */
import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ANNOTATOR_PATTERN, REVIEW_COOKIE, REVIEW_WRITE_HEADER } from './api.js';
import { HttpError } from './http_util.js';

export const ANNOTATOR_COOKIE = 'gradia_review_annotator';

export const newToken = (): string => crypto.randomBytes(24).toString('base64url');

/** Constant-time string equality (both sides hashed first, so lengths do not leak either). */
export function sameSecret(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    if (!out.has(k)) out.set(k, part.slice(i + 1).trim());
  }
  return out;
}

/** Host values a browser sends for this server: the bound address and the loopback names, with the port. */
export function allowedHosts(host: string, port: number): Set<string> {
  const names = new Set([host, '127.0.0.1', 'localhost', '[::1]']);
  if (host.includes(':') && !host.startsWith('[')) names.add(`[${host}]`); // a bare IPv6 bind address
  names.delete('0.0.0.0');
  names.delete('::');
  return new Set([...names].map((n) => `${n}:${port}`.toLowerCase()));
}

export interface GateResult {
  /** the annotator this request acts as */
  annotator: string;
  /** set when the request carried a valid ?token=: cookies to set and where to redirect */
  login?: { cookies: string[]; location: string };
}

export interface GateOptions {
  token: string;
  hosts: Set<string>;
  defaultAnnotator: string;
}

const cookie = (name: string, value: string) => `${name}=${value}; HttpOnly; SameSite=Strict; Path=/`;

/** Checks a request; throws HttpError (403 / 400) when it must be refused. */
export function gate(req: IncomingMessage, url: URL, o: GateOptions): GateResult {
  const host = (req.headers.host ?? '').toLowerCase();
  if (!o.hosts.has(host)) throw new HttpError(403, 'unknown Host');
  const raw = req.url ?? '/';
  // No route has a dot-dot or an encoded dot or slash; refuse them outright.
  if (/\.\.|%2e|%2f|%5c|\\/i.test(raw.split('?')[0]!)) throw new HttpError(400, 'bad path');
  const cookies = parseCookies(req.headers.cookie);
  const given = url.searchParams.get('token');
  let annotator = cookies.get(ANNOTATOR_COOKIE) ?? o.defaultAnnotator;
  let login: GateResult['login'];
  if (given !== null) {
    if (!sameSecret(given, o.token)) throw new HttpError(403, 'wrong token');
    const asked = url.searchParams.get('annotator');
    if (asked !== null) {
      if (!ANNOTATOR_PATTERN.test(asked)) throw new HttpError(400, 'annotator: use 1-32 letters, digits, ".", "_" or "-"');
      annotator = asked;
    }
    if (req.method === 'GET') login = { cookies: [cookie(REVIEW_COOKIE, o.token), cookie(ANNOTATOR_COOKIE, annotator)], location: url.pathname };
  } else {
    const c = cookies.get(REVIEW_COOKIE);
    if (c === undefined || !sameSecret(c, o.token)) throw new HttpError(403, 'no valid token: open the URL the server printed');
  }
  if (!ANNOTATOR_PATTERN.test(annotator)) throw new HttpError(400, 'annotator: use 1-32 letters, digits, ".", "_" or "-"');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    if (req.headers[REVIEW_WRITE_HEADER] !== '1') throw new HttpError(403, `writes need the header ${REVIEW_WRITE_HEADER}: 1`);
    if (req.headers.origin !== `http://${host}`) throw new HttpError(403, 'cross-origin write');
  }
  return { annotator, login };
}
