// Multiply: the addon's binary 'mul' (numpy broadcasting).
import { Multiply } from '@tensorflow/tfjs-core';
import { binaryKernel } from './binary_util.js';

export const multiplyConfig = binaryKernel(Multiply, 'mul');
