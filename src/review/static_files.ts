/**
 * The page's files, from a fixed table: the HTML and CSS below and the compiled ES modules
 * the page imports (the browser asks for them by the names in this table only; no part of
 * a request ever becomes a file path).
 */
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../util/paths.js';
import { HttpError, send } from './http_util.js';
import type { RouteHandler } from './routes.js';

/** URL under /static/ -> module under dist/src/ (the page's import graph; all pure, no node imports). */
export const PAGE_MODULES: readonly string[] = [
  'review/page/main.js',
  'review/page/editor.js',
  'review/page/net.js',
  'review/page/dom.js',
  'review/api.js',
  'review/raster.js',
  'review/map_history.js',
  'data/attention_target.js',
  'data/res_target.js',
  'data/iou.js',
  'util/errors.js',
];

const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>gradia-dist review</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/review.css">
<script type="module" src="/static/review/page/main.js"></script>
</head>
<body>
<header>
  <span class="brand">GRADIA review</span>
  <span id="who"></span>
  <div id="progress"><div id="progress-bar"></div></div>
  <span id="progress-text"></span>
  <span id="status" role="status" aria-live="polite"></span>
</header>
<main id="app"><p class="loading">loading...</p></main>
</body>
</html>
`;

const CSS = `
:root { --bg: #f6f6f4; --fg: #1d1d1f; --muted: #6b6b70; --ok: #1f7a3a; --bad: #b3261e; --accent: #2456c7; --panel: #fff; --line: #dcdcd8; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; align-items: center; gap: 16px; padding: 8px 16px; background: var(--panel); border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; }
.brand, #who, #progress-text { white-space: nowrap; flex: none; }
#who { color: var(--muted); }
#progress { flex: 1 1 120px; min-width: 120px; height: 8px; background: #e6e6e2; border-radius: 4px; overflow: hidden; max-width: 420px; }
#progress-bar { height: 100%; width: 0; background: var(--accent); }
#status { margin-left: auto; text-align: right; font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; min-width: 0; }
#status.saved { color: var(--ok); } #status.pending { color: var(--muted); } #status.error { color: var(--bad); }
main { display: flex; gap: 20px; padding: 16px; align-items: flex-start; }
.stage { position: relative; background: #000; line-height: 0; }
.stage canvas { display: block; image-rendering: pixelated; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; width: 460px; }
.panel h2 + .muted { margin-bottom: 6px; }
.panel h3 { font-size: 14px; margin: 14px 0 4px; }
.panel h2 { font-size: 15px; margin: 0 0 8px; word-break: break-all; }
.panel table { border-collapse: collapse; width: 100%; }
.panel td, .panel th { padding: 3px 6px; text-align: left; border-bottom: 1px solid #eee; }
.panel th { color: var(--muted); font-weight: 500; }
.right { color: var(--ok); font-weight: 600; } .wrong { color: var(--bad); font-weight: 600; }
.verdict { font-size: 16px; font-weight: 700; margin: 8px 0; }
.verdict.reasonable { color: var(--ok); } .verdict.unreasonable { color: var(--bad); }
.removed-banner { background: #fdecea; color: var(--bad); padding: 4px 8px; border-radius: 4px; font-weight: 600; margin: 6px 0; }
.conflict { background: #fff4e5; border: 1px solid #f0b35a; color: #6a3d00; padding: 6px 8px; border-radius: 4px; margin: 6px 0; }
.keys { color: var(--muted); font-size: 12px; margin: 12px 0 0; padding: 0; list-style: none; display: grid; grid-template-columns: 1fr 1fr; gap: 3px 12px; }
.hint { color: var(--muted); font-size: 12px; margin-top: 10px; }
#weights { margin-top: 2px; }
kbd { border: 1px solid #bbb; border-bottom-width: 2px; border-radius: 3px; padding: 0 4px; font: 11px ui-monospace, monospace; background: #fafafa; color: var(--fg); }
.matrix td { text-align: right; font-variant-numeric: tabular-nums; }
.toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin: 8px 0; }
.toolbar button { font: inherit; padding: 3px 8px; border: 1px solid var(--line); background: #fafafa; border-radius: 4px; cursor: pointer; }
.toolbar button.on { background: var(--accent); color: #fff; border-color: var(--accent); }
.toolbar button:disabled { opacity: 0.45; cursor: not-allowed; }
.target { display: grid; gap: 1px; background: var(--line); border: 1px solid var(--line); width: max-content; }
.target div { width: 34px; height: 34px; font: 10px ui-monospace, monospace; display: flex; align-items: center; justify-content: center; }
.target div.avoid { box-shadow: inset 0 0 0 3px #e02020; }
.swatch { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; margin-right: 4px; border: 1px solid #999; }
.swatch.look { background: rgb(255, 176, 0); }
.swatch.avoid { background: repeating-linear-gradient(135deg, #ff2828 0 3px, #555 3px 7px); }
.big { font-size: 18px; font-weight: 700; }
.muted { color: var(--muted); }
.loading { color: var(--muted); }
`;

function staticModule(name: string): Buffer {
  const file = path.join(repoRoot, 'dist', 'src', ...name.split('/'));
  try {
    return fs.readFileSync(file);
  } catch {
    throw new HttpError(500, `the page is not built (${name}): run npm run build`);
  }
}

/**
 * A route serving compiled modules under /static/<name> for exactly the names given (a mode
 * with its own page, such as the study, mounts one for its modules).
 */
export function moduleRoute(names: readonly string[]): RouteHandler {
  return async (req, res, _ctx, { url }) => {
    if (req.method !== 'GET' || !url.pathname.startsWith('/static/')) return false;
    const name = url.pathname.slice('/static/'.length);
    if (!names.includes(name)) return false;
    send(res, 200, 'text/javascript; charset=utf-8', staticModule(name));
    return true;
  };
}

const pageModules = moduleRoute(PAGE_MODULES);

/** GET / (the page) and /static/<name> from the table. */
export const staticRoutes: RouteHandler = async (req, res, ctx, scope) => {
  if (req.method !== 'GET') return false;
  const p = scope.url.pathname;
  if (p === '/' || p === '/index.html') {
    send(res, 200, 'text/html; charset=utf-8', PAGE_HTML);
    return true;
  }
  if (p === '/favicon.ico') {
    res.writeHead(204, { 'cache-control': 'max-age=86400' });
    res.end();
    return true;
  }
  if (p === '/static/review.css') {
    send(res, 200, 'text/css; charset=utf-8', CSS);
    return true;
  }
  return pageModules(req, res, ctx, scope);
};
