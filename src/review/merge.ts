/**
 * Merging several annotators' review states into one decision per image for phase 2.
 * - judgement: majority of the annotators who judged the image; a tie is "unreasonable"
 *   (an unreasonable label keeps the human map's supervision in phase 2, a reasonable +
 *   accurate one drops it), or the adjudicator's judgement where they gave one;
 * - removal: removed when more than half of the annotators who touched the image removed
 *   it (a tie keeps the sample), or as the adjudicator said where they pressed X;
 * - redrawn map: the adjudicator's where they drew one, else the pixel majority of every
 *   redrawn map of the image (a pixel tie is "in", again keeping supervision); a pixel not
 *   "look here" by that rule is "do not look here" when at least half of the maps say so.
 */
import { GradiaInputError } from '../util/errors.js';
import { ANNOTATOR_PATTERN, MAP_AVOID, MAP_LOOK, MAP_NONE, type Judgement } from './api.js';
import { decodeLabelMap, type FoldedItem } from './journal_read.js';
import type { Mask } from './raster.js';

export type MergeRule = { kind: 'majority' } | { kind: 'adjudicator'; name: string };

/** `--merge majority | adjudicator=NAME`. */
export function parseMergeRule(text: string): MergeRule {
  if (text === 'majority') return { kind: 'majority' };
  const m = /^adjudicator=(.*)$/.exec(text);
  if (m) {
    if (!ANNOTATOR_PATTERN.test(m[1]!)) throw new GradiaInputError(null, `--merge ${text}: "${m[1]}" is not an annotator id (letters, digits, _ . -, at most 32)`);
    return { kind: 'adjudicator', name: m[1]! };
  }
  throw new GradiaInputError(null, `--merge ${text}: expected "majority" or "adjudicator=NAME"`);
}

export function describeRule(rule: MergeRule): string {
  return rule.kind === 'majority'
    ? 'majority vote (ties: unreasonable), removal by strict majority, maps by pixel majority (ties: in)'
    : `adjudicator ${rule.name} wins where given, else majority vote (ties: unreasonable); maps: ${rule.name}'s, else pixel majority (ties: in)`;
}

/**
 * Pixel majority of equally sized label maps (raster.ts's Mask): a pixel is "look here"
 * when at least half of the maps have it so, else "do not look here" when at least half
 * have that, else unlabelled. With 0/1 maps: 1 where at least half have it.
 */
export function pixelMajority(maps: Mask[]): Mask {
  if (maps.length === 0) throw new RangeError('pixelMajority of no maps');
  const { h, w } = maps[0]!;
  const look = new Uint16Array(h * w);
  const avoid = new Uint16Array(h * w);
  for (const m of maps) {
    if (m.h !== h || m.w !== w) throw new RangeError(`pixelMajority: maps of ${h}x${w} and ${m.h}x${m.w}`);
    for (let i = 0; i < look.length; i++) {
      if (m.data[i] === MAP_LOOK) look[i]++;
      else if (m.data[i] === MAP_AVOID) avoid[i]++;
    }
  }
  const data = new Uint8Array(h * w);
  for (let i = 0; i < data.length; i++) data[i] = 2 * look[i]! >= maps.length ? MAP_LOOK : 2 * avoid[i]! >= maps.length ? MAP_AVOID : MAP_NONE;
  return { h, w, data };
}

/** Whose events decided one part of a merged entry. */
export interface Provenance {
  /** 'majority' | 'adjudicator' | 'tie' (majority tie, resolved by the default) */
  by: 'majority' | 'adjudicator' | 'tie';
  annotators: string[];
}

export interface MergedItem {
  image: string;
  index: number;
  judgement: Judgement | null;
  votes: { reasonable: number; unreasonable: number };
  judgementBy: Provenance | null;
  removed: boolean;
  removedBy: Provenance | null;
  map: Mask | null;
  mapBy: Provenance | null;
  /** every journal event behind this entry: annotator -> sequence numbers */
  events: Record<string, number[]>;
}

export interface AnnotatorStates {
  annotator: string;
  /** the journal file, to name in errors */
  file: string;
  items: Map<string, FoldedItem>;
}

/** Merges every annotator's state of every image any of them touched (sorted by image index). */
export function mergeReview(annotators: AnnotatorStates[], rule: MergeRule): MergedItem[] {
  if (rule.kind === 'adjudicator' && !annotators.some((a) => a.annotator === rule.name)) {
    throw new GradiaInputError(null, `--merge adjudicator=${rule.name}: ${rule.name} has no journal (annotators: ${annotators.map((a) => a.annotator).join(', ') || 'none'})`);
  }
  const images = new Map<string, number>();
  for (const a of annotators) for (const it of a.items.values()) if (!images.has(it.image)) images.set(it.image, it.index);
  const out: MergedItem[] = [];
  for (const [image, index] of [...images].sort((x, y) => x[1] - y[1] || (x[0] < y[0] ? -1 : 1))) {
    const here = annotators.flatMap((a) => {
      const it = a.items.get(image);
      return it ? [{ a, it }] : [];
    });
    const adj = rule.kind === 'adjudicator' ? here.find((h) => h.a.annotator === rule.name) : undefined;
    const events: Record<string, number[]> = {};
    for (const { a, it } of here) events[a.annotator] = [...it.seqs];

    // judgement
    const judged = here.filter((h) => h.it.judgement !== null);
    const votes = {
      reasonable: judged.filter((h) => h.it.judgement === 'reasonable').length,
      unreasonable: judged.filter((h) => h.it.judgement === 'unreasonable').length,
    };
    let judgement: Judgement | null = null;
    let judgementBy: Provenance | null = null;
    if (adj && adj.it.judgement !== null) {
      judgement = adj.it.judgement;
      judgementBy = { by: 'adjudicator', annotators: [adj.a.annotator] };
    } else if (judged.length > 0) {
      judgement = votes.reasonable > votes.unreasonable ? 'reasonable' : 'unreasonable';
      const tie = votes.reasonable === votes.unreasonable;
      judgementBy = { by: tie ? 'tie' : 'majority', annotators: (tie ? judged : judged.filter((h) => h.it.judgement === judgement)).map((h) => h.a.annotator) };
    }

    // removal
    let removed = false;
    let removedBy: Provenance | null = null;
    if (adj && adj.it.removeGiven) {
      removed = adj.it.removed;
      removedBy = { by: 'adjudicator', annotators: [adj.a.annotator] };
    } else {
      const removers = here.filter((h) => h.it.removed);
      removed = 2 * removers.length > here.length;
      if (removers.length > 0) removedBy = { by: removed ? 'majority' : 'tie', annotators: removers.map((h) => h.a.annotator) };
    }

    // map
    let map: Mask | null = null;
    let mapBy: Provenance | null = null;
    const decode = (h: { a: AnnotatorStates; it: FoldedItem }): Mask => ({ h: h.it.map!.h, w: h.it.map!.w, data: decodeLabelMap(h.it.map!, { file: h.a.file, image }) });
    if (adj && adj.it.map !== null) {
      map = decode(adj);
      mapBy = { by: 'adjudicator', annotators: [adj.a.annotator] };
    } else {
      const drawn = here.filter((h) => h.it.map !== null);
      if (drawn.length > 0) {
        const maps = drawn.map(decode);
        const first = maps[0]!;
        const odd = maps.findIndex((m) => m.h !== first.h || m.w !== first.w);
        if (odd >= 0) {
          throw new GradiaInputError(drawn[odd]!.a.file, `${image}: redrawn map is ${maps[odd]!.h}x${maps[odd]!.w}, ${drawn[0]!.a.annotator}'s is ${first.h}x${first.w}; maps of one image must share its resolution`);
        }
        map = pixelMajority(maps);
        mapBy = { by: 'majority', annotators: drawn.map((h) => h.a.annotator) };
      }
    }
    out.push({ image, index, judgement, votes, judgementBy, removed, removedBy, map, mapBy, events });
  }
  return out;
}
