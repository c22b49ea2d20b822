// Mean: the addon's reduction 'mean'.
import { Mean } from '@tensorflow/tfjs-core';
import { reduceKernel } from './reduce_util.js';

export const meanConfig = reduceKernel(Mean, 'mean', 'axis');
