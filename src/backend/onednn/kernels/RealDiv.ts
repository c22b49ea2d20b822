// RealDiv: the addon's binary 'div' (numpy broadcasting).
import { RealDiv } from '@tensorflow/tfjs-core';
import { binaryKernel } from './binary_util.js';

export const realDivConfig = binaryKernel(RealDiv, 'div');
