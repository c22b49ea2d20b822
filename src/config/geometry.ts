// The input size and the Grad-CAM grid it gives: ResNet's layer4 downsamples by 32, so an
// input of S pixels (a multiple of 32) gives a G x G attention grid with G = S / 32.
import { GradiaInputError } from '../util/errors.js';

/** Total stride of ResNet's layer4, the layer Grad-CAM reads. */
export const FEATURE_STRIDE = 32;

/** The Grad-CAM / attention grid side of an input size. */
export function gridOf(inputSize: number): number {
  return inputSize / FEATURE_STRIDE;
}

export function isValidInputSize(size: unknown): size is number {
  return typeof size === 'number' && Number.isInteger(size) && size >= FEATURE_STRIDE && size % FEATURE_STRIDE === 0;
}

/** Throws one line naming `what` (a flag or a file) unless `size` is a positive multiple of 32. */
export function checkInputSize(size: number, what = '--input-size'): number {
  if (!isValidInputSize(size)) throw new GradiaInputError(null, `${what} must be a positive multiple of ${FEATURE_STRIDE} (got ${size})`);
  return size;
}
