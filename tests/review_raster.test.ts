// The map editor's rasteriser and history against hand-counted pixels.
import { describe, expect, it } from 'vitest';
import { attentionTarget } from '../src/data/attention_target.js';
import { MapHistory } from '../src/review/map_history.js';
import { readAttentionFile } from '../src/data/attention.js';
import { resTarget } from '../src/data/res_target.js';
import { MAP_AVOID, MAP_LOOK } from '../src/review/api.js';
import {
  base64ToBytes, labelMapToMask, bytesToBase64, countLabel, emptyMask, fillHoles, fromAttentionMap, mapRows, maskToLabelMap, paintPolygon, paintStroke, polygonPixels, toAttentionMap,
} from '../src/review/raster.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The set pixels as "x,y" strings. */
function setPixels(data: Uint8Array, w: number): string[] {
  const out: string[] = [];
  data.forEach((v, i) => { if (v) out.push(`${i % w},${Math.floor(i / w)}`); });
  return out;
}

describe('polygonPixels: a pixel is in when its centre is inside', () => {
  it('a 3x2 rectangle on pixel corners covers exactly its 6 pixels', () => {
    const px = polygonPixels(5, 6, [{ x: 1, y: 2 }, { x: 4, y: 2 }, { x: 4, y: 4 }, { x: 1, y: 4 }]);
    expect(setPixels(px, 6)).toEqual(['1,2', '2,2', '3,2', '1,3', '2,3', '3,3']);
  });

  it('a right triangle (10,10) (20,10) (10,20): the centres with x+y+1 < 30, 45 pixels; centres on the hypotenuse are out', () => {
    const px = polygonPixels(32, 32, [{ x: 10, y: 10 }, { x: 20, y: 10 }, { x: 10, y: 20 }]);
    // centre (x+.5, y+.5) inside <=> x >= 10, y >= 10, x + y + 1 < 30 (on the line: right edge, out)
    const want: string[] = [];
    for (let y = 10; y <= 18; y++) for (let x = 10; x <= 28 - y; x++) want.push(`${x},${y}`);
    expect(want.length).toBe(45);
    expect(setPixels(px, 32)).toEqual(want);
  });

  it('a thin sliver between pixel centres sets nothing (no antialiasing, no partial pixels)', () => {
    const px = polygonPixels(4, 4, [{ x: 0, y: 1.1 }, { x: 4, y: 1.1 }, { x: 4, y: 1.4 }, { x: 0, y: 1.4 }]);
    expect(setPixels(px, 4)).toEqual([]);
  });

  it('clips to the map', () => {
    const px = polygonPixels(3, 3, [{ x: -5, y: -5 }, { x: 10, y: -5 }, { x: 10, y: 1 }, { x: -5, y: 1 }]);
    expect(setPixels(px, 3)).toEqual(['0,0', '1,0', '2,0']);
  });
});

describe('paintStroke', () => {
  it('a size-1 stroke sets the pixels under its points and the 8-connected line between them', () => {
    const m = emptyMask(6, 6);
    paintStroke(m, [{ x: 0.2, y: 0.9 }, { x: 3.7, y: 3.1 }], 1, 1);
    expect(setPixels(m.data, 6)).toEqual(['0,0', '1,1', '2,2', '3,3']);
  });

  it('a size-3 dot covers the centres within 1.5 px: a plus of 5 plus the 4 diagonals (distance 1.41)', () => {
    const m = emptyMask(7, 7);
    paintStroke(m, [{ x: 3.5, y: 3.5 }], 3, 1);
    expect(setPixels(m.data, 7)).toEqual(['2,2', '3,2', '4,2', '2,3', '3,3', '4,3', '2,4', '3,4', '4,4']);
  });

  it('the eraser clears what it covers', () => {
    const m = emptyMask(3, 3);
    m.data.fill(1);
    paintStroke(m, [{ x: 1.5, y: 0.5 }, { x: 1.5, y: 2.5 }], 1, 0);
    expect(setPixels(m.data, 3)).toEqual(['0,0', '2,0', '0,1', '2,1', '0,2', '2,2']);
  });
});

describe('fillHoles', () => {
  it('fills the inside of a closed ring and leaves an open one (and the outside) alone', () => {
    const ring = [
      '.......',
      '.#####.',
      '.#...#.',
      '.#.#.#.',
      '.#...#.',
      '.#####.',
      '.......',
    ];
    const m = { h: 7, w: 7, data: Uint8Array.from(ring.join(''), (c) => (c === '#' ? 1 : 0)) };
    fillHoles(m);
    const filled = ['.......', '.#####.', '.#####.', '.#####.', '.#####.', '.#####.', '.......'];
    expect(Array.from(m.data, (v) => (v ? '#' : '.')).join('')).toBe(filled.join(''));
    const open = ['#####', '#...#', '#...#', '##.##'];
    const o = { h: 4, w: 5, data: Uint8Array.from(open.join(''), (c) => (c === '#' ? 1 : 0)) };
    fillHoles(o);
    expect(Array.from(o.data, (v) => (v ? '#' : '.')).join('')).toBe(open.join(''));
  });
});

describe('LabelMap encoding', () => {
  it('round-trips h*w bytes through base64 like Buffer does, and refuses values other than 0/1/2', () => {
    for (const n of [0, 1, 2, 3, 4, 5, 64 * 64]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 7) % 2);
      const text = bytesToBase64(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64'));
      expect(Array.from(base64ToBytes(text)!)).toEqual(Array.from(bytes));
    }
    const m = { h: 2, w: 3, data: Uint8Array.from([1, 0, 1, 0, 0, 1]) };
    expect(labelMapToMask(maskToLabelMap(m))).toEqual(m);
    const signed = { h: 1, w: 3, data: Uint8Array.from([2, 0, 1]) };
    expect(labelMapToMask(maskToLabelMap(signed))).toEqual(signed);
    expect(labelMapToMask({ h: 1, w: 2, bits: Buffer.from([1, 3]).toString('base64') })).toBeNull();
    expect(labelMapToMask({ h: 2, w: 2, bits: Buffer.from([1, 0, 1]).toString('base64') })).toBeNull();
    expect(base64ToBytes('abc')).toBeNull();
  });
});

describe('"do not look here" labels (value 2; -1 in GRADIA\'s JSON)', () => {
  const draw = (rows: string[]) => ({ h: rows.length, w: rows[0]!.length, data: Uint8Array.from(rows.join(''), (c) => (c === '#' ? 1 : c === 'x' ? 2 : 0)) });
  const show = (m: { w: number; data: Uint8Array }) => Array.from(m.data, (v) => '.#x'[v]).join('');

  it('the avoid brush paints 2 over anything; the look brush paints 1 over a 2; the eraser clears both', () => {
    const m = emptyMask(3, 5);
    paintStroke(m, [{ x: 0.5, y: 1.5 }, { x: 4.5, y: 1.5 }], 1, MAP_LOOK);
    paintStroke(m, [{ x: 2.5, y: 0.5 }, { x: 2.5, y: 2.5 }], 1, MAP_AVOID);
    expect(show(m)).toBe(['..x..', '##x##', '..x..'].join(''));
    paintStroke(m, [{ x: 2.5, y: 0.5 }], 1, MAP_LOOK);
    paintStroke(m, [{ x: 0.5, y: 1.5 }, { x: 2.5, y: 2.5 }], 1, 0);
    // the eraser's centres within 0.5 of (0.5,1.5)-(2.5,2.5): (0,1), (1,1), (1,2), (2,2) (0.447 away)
    expect(show(m)).toBe(['..#..', '..x##', '.....'].join(''));
    expect(countLabel(m, MAP_LOOK)).toBe(3);
    expect(countLabel(m, MAP_AVOID)).toBe(1);
  });

  it('fill holes fills unlabelled pixels enclosed by "look here" and leaves "do not look here" pixels as they are', () => {
    const m = draw([
      '#######',
      '#..x..#',
      '#.x.x.#',
      '#######',
      '.xxx...',
      '.x.x...',
      '.xxx...',
    ]);
    fillHoles(m);
    expect(show(m)).toBe([
      '#######',
      '###x###',
      '##x#x##',
      '#######',
      '.xxx...',
      '.x.x...', // a ring of "do not look here" does not close a hole
      '.xxx...',
    ].join(''));
  });

  it('toAttentionMap and mapRows agree with the trainer\'s JSON reader: 1 -> data 255, -1 -> negative 255', () => {
    const m = draw(['#.x', 'xx#', '...']);
    expect(mapRows(m)).toEqual([[1, 0, -1], [-1, -1, 1], [0, 0, 0]]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-rows-'));
    try {
      const file = path.join(dir, 'attention_val_update.json');
      fs.writeFileSync(file, JSON.stringify([{ img: 'a.png', attention: mapRows(m) }]));
      const read = readAttentionFile(file).get('a.png')!;
      const mine = toAttentionMap(m);
      expect({ h: read.h, w: read.w, data: Array.from(read.data), negative: Array.from(read.negative!) })
        .toEqual({ h: 3, w: 3, data: Array.from(mine.data), negative: Array.from(mine.negative!) });
      expect(Array.from(read.negative!)).toEqual([0, 0, 255, 255, 255, 0, 0, 0, 0]);
      expect(fromAttentionMap(read)).toEqual(m);
      // a map without negatives has no negative plane, as the reader gives for 0/1 rows
      expect(toAttentionMap(draw(['#.', '..'])).negative).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a map of only "do not look here" has no GRADIA target but has RES\'s (-1 cells)', () => {
    const m = emptyMask(64, 64);
    paintPolygon(m, [{ x: 0, y: 0 }, { x: 32, y: 0 }, { x: 32, y: 32 }, { x: 0, y: 32 }], MAP_AVOID);
    expect(attentionTarget(toAttentionMap(m), 2)).toBeNull();
    expect(Array.from(resTarget(toAttentionMap(m), 2)!)).toEqual([-1, 0, 0, 0]);
  });
});

describe('MapHistory: undo and redo per step', () => {
  it('undoes whole strokes, drops the redo branch after a new step, and keeps no empty step', () => {
    const h = new MapHistory(emptyMask(1, 4));
    h.step((m) => { m.data[0] = 1; m.data[1] = 1; });
    h.begin();
    h.mask.data[2] = 1; // a stroke in two parts is one step
    h.mask.data[3] = 1;
    h.commit();
    h.step(() => {}); // changes nothing: not a step
    expect(Array.from(h.mask.data)).toEqual([1, 1, 1, 1]);
    expect(h.undo()).toBe(true);
    expect(Array.from(h.mask.data)).toEqual([1, 1, 0, 0]);
    expect(h.redo()).toBe(true);
    expect(Array.from(h.mask.data)).toEqual([1, 1, 1, 1]);
    h.undo();
    h.replace(new Uint8Array(4));
    expect(h.canRedo).toBe(false);
    h.undo();
    h.undo();
    expect(Array.from(h.mask.data)).toEqual([0, 0, 0, 0]);
    expect(h.undo()).toBe(false);
  });
});

describe('the phase-2 target of a drawn map (the trainer\'s attentionTarget)', () => {
  it('is all zero (null) for a single pixel at a 64 px map and a 2x2 grid, and not for a quadrant', () => {
    const one = emptyMask(64, 64);
    one.data[5 * 64 + 5] = 1;
    // INTER_AREA to 2x2: 255 / 1024 rounds to 0 everywhere
    expect(attentionTarget(toAttentionMap(one), 2)).toBeNull();
    const quad = emptyMask(64, 64);
    paintPolygon(quad, [{ x: 0, y: 0 }, { x: 32, y: 0 }, { x: 32, y: 32 }, { x: 0, y: 32 }], 1);
    expect(attentionTarget(toAttentionMap(quad), 2)).not.toBeNull();
  });
});
