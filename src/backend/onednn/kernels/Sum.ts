// Sum: the addon's reduction 'sum'.
import { Sum } from '@tensorflow/tfjs-core';
import { reduceKernel } from './reduce_util.js';

export const sumConfig = reduceKernel(Sum, 'sum', 'axis');
