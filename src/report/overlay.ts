/**
 * Grad-CAM pictures as the original writes them: the map through a bone colour map,
 * multiplied onto the image, divided by the result's max (show_cam_on_image).
 */

// matplotlib/OpenCV "bone" as piecewise-linear (position, value) knots per channel.
const BONE_KNOTS: ReadonlyArray<ReadonlyArray<readonly [number, number]>> = [
  [[0, 0], [0.746032, 0.652778], [1, 1]], // red
  [[0, 0], [0.365079, 0.319444], [0.746032, 0.777778], [1, 1]], // green
  [[0, 0], [0.365079, 0.444444], [1, 1]], // blue
];

function interpolateKnots(knots: ReadonlyArray<readonly [number, number]>, x: number): number {
  for (let k = 1; k < knots.length; k++) {
    const [x1, y1] = knots[k]!;
    const [x0, y0] = knots[k - 1]!;
    if (x <= x1) return y0 + ((y1 - y0) * (x - x0)) / (x1 - x0);
  }
  return knots[knots.length - 1]![1];
}

/** 256-entry RGB lookup table of the bone colour map, values in [0, 1]. */
export const BONE_LUT: Float32Array = (() => {
  const lut = new Float32Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = interpolateKnots(BONE_KNOTS[c]!, i / 255);
  }
  return lut;
})();

/**
 * rgb: HxWx3 uint8 image; mask: HxW values in [0, 1] (same size).
 * Returns the HxWx3 uint8 overlay: bone(mask) * image, scaled so its max is 255.
 */
export function camOverlay(rgb: Uint8Array, mask: Float32Array, h: number, w: number): Uint8Array {
  const product = new Float32Array(h * w * 3);
  let max = 0;
  for (let p = 0; p < h * w; p++) {
    const m = mask[p]!;
    const level = Math.max(0, Math.min(255, Math.floor(255 * (Number.isFinite(m) ? m : 0))));
    for (let c = 0; c < 3; c++) {
      const v = BONE_LUT[level * 3 + c]! * (rgb[p * 3 + c]! / 255);
      product[p * 3 + c] = v;
      if (v > max) max = v;
    }
  }
  const out = new Uint8Array(h * w * 3);
  const scale = max > 0 ? 255 / max : 0;
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(product[i]! * scale);
  return out;
}

/** Places equally sized HxWx3 tiles side by side in a grid with `cols` columns, `gap` pixels of `background` between them. */
export function tileGrid(tiles: Uint8Array[], h: number, w: number, cols: number, gap = 4, background = 0): { data: Uint8Array; width: number; height: number } {
  const rows = Math.max(1, Math.ceil(tiles.length / cols));
  const usedCols = Math.max(1, Math.min(cols, tiles.length));
  const width = usedCols * w + (usedCols - 1) * gap;
  const height = rows * h + (rows - 1) * gap;
  const data = new Uint8Array(width * height * 3).fill(background);
  tiles.forEach((tile, t) => {
    const x0 = (t % cols) * (w + gap);
    const y0 = Math.floor(t / cols) * (h + gap);
    for (let y = 0; y < h; y++) {
      data.set(tile.subarray(y * w * 3, (y + 1) * w * 3), ((y0 + y) * width + x0) * 3);
    }
  });
  return { data, width, height };
}
