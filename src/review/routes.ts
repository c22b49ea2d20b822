/**
 * The judging and editing API (api.ts lists the routes): session, item details, pictures
 * by index, events written through the annotator's journal, and the live stream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { labelOf, weightsFor } from '../data/reasonability.js';
import { REVIEW_MAX_BODY, type ConflictAnswer, type EventAnswer, type ItemDetail, type ReviewEventRequest, type SessionInfo } from './api.js';
import { isDone, type ReviewContext } from './context.js';
import { HttpError, readJsonBody, send, sendJson } from './http_util.js';
import { eventProblem } from './journal.js';
import { fromAttentionMap, maskToLabelMap } from './raster.js';

/** What the server knows of a request once it passed the gate. */
export interface RequestScope {
  url: URL;
  annotator: string;
}

/** A route: answers and returns true, or returns false to let the next one try. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, ctx: ReviewContext, scope: RequestScope) => Promise<boolean>;

export function sessionInfo(ctx: ReviewContext, annotator: string): SessionInfo {
  const order = ctx.order(annotator);
  const journal = ctx.journal(annotator);
  const k = order.findIndex((i) => !isDone(journal.state(i)));
  return {
    annotator,
    dataset: ctx.datasetFingerprint,
    model: { name: ctx.modelName, checkpointId: ctx.outputs.checkpointId },
    classes: ctx.classes,
    grid: ctx.outputs.grid,
    inputSize: ctx.outputs.inputSize,
    count: ctx.samples.length,
    order,
    resumeAt: k < 0 ? order.length : k,
    matrix: ctx.matrix(annotator),
  };
}

export function itemDetail(ctx: ReviewContext, annotator: string, index: number): ItemDetail {
  const s = ctx.samples[index]!;
  const out = ctx.outputs.items[index]!;
  const accurate = out.pred === s.label;
  const human = s.humanMap;
  return {
    index,
    image: s.fileName,
    label: s.label,
    pred: out.pred,
    prob: out.prob,
    cam: out.cam,
    humanMap: human ? maskToLabelMap(fromAttentionMap(human)) : null,
    mapShape: ctx.mapShape(index),
    // the weights phase 2 gives this image once it has a map (GRADIA.py's table)
    weightsIf: { reasonable: weightsFor(labelOf(true, accurate)), unreasonable: weightsFor(labelOf(false, accurate)) },
    state: ctx.journal(annotator).state(index),
  };
}

const ITEM = /^\/api\/items\/(\d{1,9})(\/image\.png|\/overlay\.png)?$/;

function indexIn(ctx: ReviewContext, text: string): number {
  const i = Number(text);
  if (!(i < ctx.samples.length)) throw new HttpError(404, 'no such image');
  return i;
}

async function postEvent(req: IncomingMessage, res: ServerResponse, ctx: ReviewContext, annotator: string): Promise<void> {
  const body = await readJsonBody(req, REVIEW_MAX_BODY);
  const problem = eventProblem(body);
  if (problem) throw new HttpError(400, problem);
  const ev = body as ReviewEventRequest;
  if (ev.index >= ctx.samples.length) throw new HttpError(400, 'no such image');
  if (ev.value.kind === 'map' && ev.value.map) {
    const want = ctx.mapShape(ev.index);
    if (ev.value.map.h !== want.h || ev.value.map.w !== want.w) throw new HttpError(400, `map must be ${want.h}x${want.w}`);
  }
  const r = ctx.journal(annotator).append(ev, ctx.samples[ev.index]!.fileName);
  if (r.kind === 'conflict') {
    const answer: ConflictAnswer = { conflict: true, state: r.state };
    sendJson(res, 409, answer);
    return;
  }
  const answer: EventAnswer = { saved: true, seq: r.seq, state: r.state, matrix: ctx.matrix(annotator) };
  sendJson(res, 200, answer);
  if (r.kind === 'saved') ctx.publish(annotator, { index: ev.index, state: r.state });
}

function openStream(req: IncomingMessage, res: ServerResponse, ctx: ReviewContext, annotator: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', connection: 'keep-alive' });
  res.write(': connected\n\n');
  const off = ctx.subscribe(annotator, res);
  req.on('close', off);
}

/** The core routes of the judging page. */
export const apiRoutes: RouteHandler = async (req, res, ctx, { url, annotator }) => {
  const p = url.pathname;
  if (req.method === 'GET' && p === '/api/session') {
    sendJson(res, 200, sessionInfo(ctx, annotator));
    return true;
  }
  if (req.method === 'GET' && p === '/api/stream') {
    openStream(req, res, ctx, annotator);
    return true;
  }
  if (p === '/api/events') {
    if (req.method !== 'POST') throw new HttpError(405, 'POST only');
    await postEvent(req, res, ctx, annotator);
    return true;
  }
  const m = ITEM.exec(p);
  if (m && req.method === 'GET') {
    const i = indexIn(ctx, m[1]!);
    if (!m[2]) sendJson(res, 200, itemDetail(ctx, annotator, i));
    else send(res, 200, 'image/png', await ctx.images.png(i, m[2] === '/image.png' ? 'image' : 'overlay'));
    return true;
  }
  return false;
};
