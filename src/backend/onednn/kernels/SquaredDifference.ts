// SquaredDifference: the addon's binary 'squaredDifference' (numpy broadcasting).
import { SquaredDifference } from '@tensorflow/tfjs-core';
import { binaryKernel } from './binary_util.js';

export const squaredDifferenceConfig = binaryKernel(SquaredDifference, 'squaredDifference');
