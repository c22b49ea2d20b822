// Test oracle of the pipeline's horizontal flip (src/data/resize.ts normaliseInto with flip).

/** Horizontal flip of an HWC image with `channels` channels (any typed array), in place. */
export function flipImageInPlace<T extends { [i: number]: number }>(img: T, h: number, w: number, channels: number): T {
  for (let y = 0; y < h; y++) {
    const row = y * w * channels;
    for (let x = 0; x < w >> 1; x++) {
      const a = row + x * channels;
      const b = row + (w - 1 - x) * channels;
      for (let c = 0; c < channels; c++) {
        const t = img[a + c];
        img[a + c] = img[b + c];
        img[b + c] = t;
      }
    }
  }
  return img;
}
