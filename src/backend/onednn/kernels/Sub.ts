// Sub: the addon's binary 'sub' (numpy broadcasting).
import { Sub } from '@tensorflow/tfjs-core';
import { binaryKernel } from './binary_util.js';

export const subConfig = binaryKernel(Sub, 'sub');
