// Max: the addon's reduction 'max'.
import { Max } from '@tensorflow/tfjs-core';
import { reduceKernel } from './reduce_util.js';

export const maxConfig = reduceKernel(Max, 'max', 'reductionIndices');
