/**
 * Everything a review request handler works with: the validation set, the model's cached
 * outputs, the pictures, each annotator's journal (opened on first use) and the live
 * streams that tell an annotator's other tabs about a saved change.
 */
import type { ServerResponse } from 'node:http';
import { labelOf, type ReasonabilityLabel } from '../data/reasonability.js';
import { matrixOf, type ReasonabilityMatrix } from '../data/assess.js';
import type { EvalSample } from '../data/types.js';
import { fnv1a, mulberry32 } from '../util/hash.js';
import type { ItemState, StreamMessage } from './api.js';
import { ReviewImages } from './images.js';
import { JournalStore } from './journal.js';
import type { ModelOutputs } from './model_outputs.js';

export interface ReviewContext {
  dataDir: string;
  /** <data-dir>/review/<model>/ */
  reviewDir: string;
  modelName: string;
  datasetFingerprint: string;
  classes: string[];
  samples: EvalSample[];
  outputs: ModelOutputs;
  images: ReviewImages;
  /** the shape a redrawn map of image `index` is saved at */
  mapShape(index: number): { h: number; w: number };
  journal(annotator: string): JournalStore;
  /** this annotator's queue: a permutation of the image indices seeded by the name */
  order(annotator: string): number[];
  matrix(annotator: string): ReasonabilityMatrix;
  /** live streams (server-sent events) per annotator */
  subscribe(annotator: string, res: ServerResponse): () => void;
  publish(annotator: string, msg: StreamMessage): void;
  log(line: string): void;
  close(): void;
}

/** A permutation of 0..n-1 from a 32-bit seed (mulberry32 + Fisher-Yates). */
export function seededOrder(n: number, seed: number): number[] {
  const next = mulberry32(seed);
  const rand = () => next() / 4294967296;
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** An image is done for the queue once judged or removed. */
export const isDone = (s: ItemState): boolean => s.judgement !== null || s.removed;

export function createContext(o: {
  dataDir: string; reviewDir: string; modelName: string; datasetFingerprint: string; classes: string[];
  samples: EvalSample[]; outputs: ModelOutputs; log?: (line: string) => void;
}): ReviewContext {
  const log = o.log ?? ((l: string) => console.error(l));
  const images = new ReviewImages(o.samples, o.outputs);
  // Most common human-map shape: the resolution of a map drawn for an image that has none.
  const shapes = new Map<string, number>();
  for (const s of o.samples) if (s.humanMap) shapes.set(`${s.humanMap.h}x${s.humanMap.w}`, (shapes.get(`${s.humanMap.h}x${s.humanMap.w}`) ?? 0) + 1);
  const common = [...shapes].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
  const fallback = common ? { h: Number(common.split('x')[0]), w: Number(common.split('x')[1]) } : { h: o.outputs.inputSize, w: o.outputs.inputSize };
  const journals = new Map<string, JournalStore>();
  const orders = new Map<string, number[]>();
  const streams = new Map<string, Set<ServerResponse>>();
  const ctx: ReviewContext = {
    dataDir: o.dataDir,
    reviewDir: o.reviewDir,
    modelName: o.modelName,
    datasetFingerprint: o.datasetFingerprint,
    classes: o.classes,
    samples: o.samples,
    outputs: o.outputs,
    images,
    mapShape: (i) => {
      const m = o.samples[i]!.humanMap;
      return m ? { h: m.h, w: m.w } : fallback;
    },
    journal: (annotator) => {
      let j = journals.get(annotator);
      if (!j) {
        j = JournalStore.open(o.reviewDir, annotator, log);
        journals.set(annotator, j);
      }
      return j;
    },
    order: (annotator) => {
      let ord = orders.get(annotator);
      if (!ord) {
        ord = seededOrder(o.samples.length, fnv1a(annotator));
        orders.set(annotator, ord);
      }
      return ord;
    },
    matrix: (annotator) => {
      const labels: ReasonabilityLabel[] = [];
      for (const [i, s] of ctx.journal(annotator).states()) {
        if (s.judgement === null) continue;
        const it = o.outputs.items[i]!;
        labels.push(labelOf(s.judgement === 'reasonable', it.pred === it.label));
      }
      return matrixOf(labels);
    },
    subscribe: (annotator, res) => {
      let set = streams.get(annotator);
      if (!set) streams.set(annotator, (set = new Set()));
      set.add(res);
      return () => set!.delete(res);
    },
    publish: (annotator, msg) => {
      const line = `data: ${JSON.stringify(msg)}\n\n`;
      for (const res of streams.get(annotator) ?? []) res.write(line);
    },
    log,
    close: () => {
      for (const j of journals.values()) j.close();
      for (const set of streams.values()) for (const res of set) res.end();
    },
  };
  return ctx;
}
