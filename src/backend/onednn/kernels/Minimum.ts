// Minimum: the addon's binary 'min' (numpy broadcasting).
import { Minimum } from '@tensorflow/tfjs-core';
import { binaryKernel } from './binary_util.js';

export const minimumConfig = binaryKernel(Minimum, 'min');
