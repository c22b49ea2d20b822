// Min: the addon's reduction 'min'.
import { Min } from '@tensorflow/tfjs-core';
import { reduceKernel } from './reduce_util.js';

export const minConfig = reduceKernel(Min, 'min', 'axis');
