/**
 * The review UI's wire and journal contract, shared by the server (node) and the page
 * (browser). Pure types and constants: no node imports, so the page can import it.
 *
 * HTTP routes (all under one origin; every request needs the token, given once as
 * `?token=` and then carried by an HttpOnly SameSite=Strict cookie):
 *   GET  /                         the judging page (HTML); `/#<index>` names the image
 *   GET  /study                    the blind study page (only with --study)
 *   GET  /static/<name>            compiled page modules and CSS, from a fixed table
 *   GET  /api/session              SessionInfo
 *   GET  /api/items/<index>        ItemDetail (this annotator's state of one image)
 *   GET  /api/items/<index>/image.png    the image as the training pipeline decodes it
 *   GET  /api/items/<index>/overlay.png  the same Grad-CAM overlay `evaluate` draws
 *   POST /api/events               ReviewEventRequest -> EventAnswer (200) | ConflictAnswer (409)
 *   GET  /api/stream               server-sent events: StreamMessage per line of `data:`
 *   GET  /api/study/session        StudySession (study mode)
 *   GET  /api/study/slots/<slot>.png     a study image by opaque slot id
 *   POST /api/study/answers        StudyAnswerRequest -> EventAnswer
 * Writes (POST) need the header `X-Gradia-Review: 1` and a same-origin `Origin`; bodies are
 * capped at REVIEW_MAX_BODY bytes. No request ever carries a file path.
 */

export const REVIEW_WRITE_HEADER = 'x-gradia-review';
export const REVIEW_MAX_BODY = 1 << 20;
export const REVIEW_COOKIE = 'gradia_review_token';
/** Annotator ids are safe file names. */
export const ANNOTATOR_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;

export type Judgement = 'reasonable' | 'unreasonable';

/** A map pixel's label: none, "look here" (1 in GRADIA's JSON), "do not look here" (-1 there). */
export const MAP_NONE = 0;
export const MAP_LOOK = 1;
export const MAP_AVOID = 2;
export type MapLabel = typeof MAP_NONE | typeof MAP_LOOK | typeof MAP_AVOID;

/** A human map at its own resolution, row-major, one byte per pixel: a MapLabel (0, 1 or 2). */
export interface LabelMap {
  h: number;
  w: number;
  /** base64 of the h*w bytes (each 0, 1 or 2) */
  bits: string;
}

export interface SessionInfo {
  annotator: string;
  dataset: string; // data-set fingerprint
  model: { name: string; checkpointId: string };
  classes: string[];
  grid: number; // G = input size / 32
  inputSize: number;
  count: number; // number of validation images
  /** queue order for this annotator (a seeded permutation of 0..count-1) */
  order: number[];
  /** first index in `order` this annotator has not judged (or count when all are judged) */
  resumeAt: number;
  matrix: [[number, number], [number, number]]; // this annotator's live reasonability matrix
}

export interface ItemDetail {
  index: number;
  image: string; // file name (key), for display only
  label: number;
  pred: number;
  prob: number; // softmax probability of `pred`
  /** raw G x G Grad-CAM of the predicted class, as `evaluate` computes it */
  cam: number[];
  /** the existing human map (attention_val.json / _update), if any */
  humanMap: LabelMap | null;
  /** the resolution a redrawn map of this image is saved at: its human map's, else the most common map shape */
  mapShape: { h: number; w: number };
  /** what the phase-1 weights would be for each judgement of this image */
  weightsIf: Record<Judgement, { predWeight: number; attWeight: number }>;
  state: ItemState;
}

/** One annotator's current state of one image, the fold of their journal. */
export interface ItemState {
  revision: number; // 0 = never touched
  judgement: Judgement | null;
  removed: boolean;
  map: LabelMap | null; // a redrawn map, if any
}

export type ReviewEventKind = 'judge' | 'remove' | 'map';
export type ReviewEventValue =
  | { kind: 'judge'; judgement: Judgement | null } // null = undo the judgement
  | { kind: 'remove'; removed: boolean } // X: remove or restore the sample
  | { kind: 'map'; map: LabelMap | null }; // null = drop the redrawn map

export interface ReviewEventRequest {
  id: string; // client-made event id; a repeated id is answered as already saved
  index: number;
  baseRevision: number; // the item revision the client saw
  value: ReviewEventValue;
}

/** One line of `<data-dir>/review/<model>/judgements/<annotator>.jsonl`. */
export interface JournalEvent extends ReviewEventRequest {
  seq: number; // per-annotator sequence, from 1
  time: string; // ISO time at the server
  image: string; // file name of `index`, so the journal reads without the data set
}

export interface EventAnswer {
  saved: true; // only sent after the journal line is fsynced
  seq: number;
  state: ItemState;
  matrix: [[number, number], [number, number]];
}

export interface ConflictAnswer {
  conflict: true;
  state: ItemState; // the current state the client must rebase on
}

export interface StreamMessage {
  index: number;
  state: ItemState;
}

/* ---- blind study (--study) ---- */

export interface StudySession {
  annotator: string;
  count: number; // images in the study
  resumeAt: number;
  /** questions per image; each slot is an opaque id of one model's picture of that image */
  next: { item: number; slots: string[] } | null;
}

export interface StudyAnswer {
  necessary: boolean; // "captures the necessary details?"
  unnecessary: boolean; // "includes unnecessary details?"
  rating: 1 | 2 | 3 | 4 | 5;
}

export interface StudyAnswerRequest {
  id: string;
  item: number;
  /** answers in the order the slots were shown */
  answers: StudyAnswer[];
  ms: number; // time spent on the item
}

/**
 * One line of `<data-dir>/review/study/<annotator>.jsonl` (on disk only, never sent to the
 * page): the answers as submitted plus which model each slot showed (`order[k]` = index in
 * the study's model list of the k-th slot).
 */
export interface StudyJournalEvent extends StudyAnswerRequest {
  seq: number;
  time: string;
  image: string;
  order: number[];
}
