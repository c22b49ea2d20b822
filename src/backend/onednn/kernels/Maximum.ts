// Maximum: the addon's binary 'max' (numpy broadcasting).
import { Maximum } from '@tensorflow/tfjs-core';
import { binaryKernel } from './binary_util.js';

export const maximumConfig = binaryKernel(Maximum, 'max');
