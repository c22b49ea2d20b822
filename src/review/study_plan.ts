/**
 * The blind study's plan: which models, which images, and per image the order in which the
 * models' pictures are shown and the opaque slot ids that address them. Order and ids come
 * from an HMAC of a secret kept on the server (`review/study/study.json`), so neither the
 * page nor a URL can tell which slot is which model; the same image shows the same order to
 * every annotator (as the original, which seeded its shuffle with the image's index).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { GradiaInputError } from '../util/errors.js';
import { atomicWrite } from '../model/safetensors.js';

export const STUDY_FORMAT = 'gradia-dist-review-study/1';

export interface StudyPlan {
  format: typeof STUDY_FORMAT;
  models: string[];
  split: 'val' | 'test';
  /** image file names in study order */
  images: string[];
  /** hex secret: never leaves the server */
  secret: string;
  createdAt: string;
}

const hmac = (secret: string, text: string): Buffer => crypto.createHmac('sha256', Buffer.from(secret, 'hex')).update(text).digest();

/** The model index (into plan.models) shown in each slot of item `item`: a keyed shuffle. */
export function slotOrder(plan: Pick<StudyPlan, 'secret' | 'models'>, item: number): number[] {
  const order = plan.models.map((_, i) => i);
  const bytes = hmac(plan.secret, `order\0${item}`);
  // Fisher-Yates with one 32-bit draw from the HMAC per step (at most 8 models: 7 draws in
  // its 32 bytes; the modulo bias is below 2^-28).
  for (let i = order.length - 1; i > 0; i--) {
    const j = bytes.readUInt32BE(4 * (order.length - 1 - i)) % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** Opaque id of the picture in slot `k` of item `item` (20 hex digits). */
export function slotId(plan: Pick<StudyPlan, 'secret'>, item: number, k: number): string {
  return hmac(plan.secret, `slot\0${item}\0${k}`).toString('hex').slice(0, 20);
}

/** All slot ids -> (item, model index), for the server's lookup. */
export function slotTable(plan: StudyPlan): Map<string, { item: number; model: number }> {
  const t = new Map<string, { item: number; model: number }>();
  plan.images.forEach((_, item) => {
    const order = slotOrder(plan, item);
    order.forEach((model, k) => t.set(slotId(plan, item, k), { item, model }));
  });
  return t;
}

export const STUDY_PLAN_FILE = 'study.json';

/**
 * The study under `studyDir`: the existing plan when it has the same models, split and
 * images (a restarted server resumes), a new one when there is none; a different study in
 * the same folder is refused (its answers would be mixed with this one's).
 */
export function openStudyPlan(studyDir: string, want: { models: string[]; split: 'val' | 'test'; images: string[] }): StudyPlan {
  const file = path.join(studyDir, STUDY_PLAN_FILE);
  const found = readStudyPlan(studyDir);
  // (a file holding JSON `null` also reads as null: it is no study to create over, and fails the check below as before)
  if (found !== null || fs.existsSync(file)) {
    const plan = found as StudyPlan;
    if (plan.format !== STUDY_FORMAT || !Array.isArray(plan.models) || !Array.isArray(plan.images) || typeof plan.secret !== 'string') throw new GradiaInputError(file, 'not a gradia-dist study plan');
    const same = plan.split === want.split && plan.models.join('\0') === want.models.join('\0') && plan.images.join('\0') === want.images.join('\0');
    if (!same) {
      throw new GradiaInputError(file, `holds another study (models ${plan.models.join(',')} on ${plan.split}, ${plan.images.length} images); export it with --export and move ${studyDir} away to start a new one`);
    }
    return plan;
  }
  const plan: StudyPlan = { format: STUDY_FORMAT, ...want, secret: crypto.randomBytes(32).toString('hex'), createdAt: new Date().toISOString() };
  atomicWrite(file, Buffer.from(`${JSON.stringify(plan, null, 1)}\n`));
  return plan;
}

/** Reads an existing plan (export, agreement); null when there is no study. */
export function readStudyPlan(studyDir: string): StudyPlan | null {
  const file = path.join(studyDir, STUDY_PLAN_FILE);
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as StudyPlan;
  } catch (e) {
    throw new GradiaInputError(file, `not valid JSON: ${(e as Error).message}`);
  }
}

/** `--models A,B,C`: two or more distinct checkpoint names. */
export function parseModelList(text: string): string[] {
  const models = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (models.length < 2) throw new GradiaInputError(null, `--models ${text}: a comparison needs at least two model names, comma-separated`);
  if (models.length > 8) throw new GradiaInputError(null, `--models ${text}: at most 8 models per study`);
  const dup = models.find((m, i) => models.indexOf(m) !== i);
  if (dup) throw new GradiaInputError(null, `--models ${text}: ${dup} is named twice`);
  return models;
}
