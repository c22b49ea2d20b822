/**
 * The review server (node:http, no framework). Every request passes the gate
 * (security.ts) first; then the route handlers are asked in order: the extra ones a mode
 * mounts (the blind study), then the page's static files, then the judging API. A handler
 * that answers returns true; nothing answering is a 404.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ReviewContext } from './context.js';
import { HttpError, sendJson } from './http_util.js';
import { apiRoutes, type RouteHandler } from './routes.js';
import { allowedHosts, gate, newToken } from './security.js';
import { staticRoutes } from './static_files.js';

export interface ReviewServerOptions {
  ctx: ReviewContext;
  host: string;
  /** 0: any free port */
  port: number;
  defaultAnnotator: string;
  /** handlers tried before the core routes (e.g. the study mode's) */
  handlers?: RouteHandler[];
  token?: string;
}

export interface ReviewServer {
  /** the URL to open, with the token */
  url: string;
  token: string;
  port: number;
  close(): Promise<void>;
}

/** The address part of a URL for a bind host (IPv6 in brackets; any-address shown as 127.0.0.1). */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

export async function startReviewServer(o: ReviewServerOptions): Promise<ReviewServer> {
  const token = o.token ?? newToken();
  const handlers: RouteHandler[] = [...(o.handlers ?? []), staticRoutes, apiRoutes];
  let hosts = new Set<string>();
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://review.invalid');
      const g = gate(req, url, { token, hosts, defaultAnnotator: o.defaultAnnotator });
      if (g.login) {
        // Swap the token for cookies and drop it from the address bar (and from history).
        res.writeHead(303, { location: g.login.location, 'set-cookie': g.login.cookies, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
        res.end();
        return;
      }
      for (const h of handlers) if (await h(req, res, o.ctx, { url, annotator: g.annotator })) return;
      throw new HttpError(404, 'not found');
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      const message = e instanceof HttpError ? e.message : 'internal error';
      if (!(e instanceof HttpError)) o.ctx.log(`review: ${req.method} ${req.url}: ${(e as Error).stack ?? e}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (status === 413) res.setHeader('connection', 'close');
      sendJson(res, status, { error: message });
      if (status === 413) req.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  hosts = allowedHosts(urlHost(o.host), port);
  return {
    url: `http://${urlHost(o.host)}:${port}/?token=${token}`,
    token,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        o.ctx.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
