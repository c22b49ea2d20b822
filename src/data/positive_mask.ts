// RES-L's imputation input: the human map's positive part (map > 0) at the input size, as
// 0/1 floats, resized nearest-neighbour (OpenCV INTER_NEAREST: source index floor(i * src / dst))
// and mirrored with its image when the image is flipped.
import type { HumanMap } from './types.js';

export function positiveMaskAt(map: HumanMap, size: number, flip: boolean): Float32Array {
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const sy = Math.min(map.h - 1, Math.floor((y * map.h) / size));
    for (let x = 0; x < size; x++) {
      const sx = Math.min(map.w - 1, Math.floor((x * map.w) / size));
      out[y * size + (flip ? size - 1 - x : x)] = map.data[sy * map.w + sx]! > 0 ? 1 : 0;
    }
  }
  return out;
}
