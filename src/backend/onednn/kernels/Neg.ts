// Neg: the addon's unary 'neg'.
import { Neg } from '@tensorflow/tfjs-core';
import { unaryKernel } from './unary_util.js';

export const negConfig = unaryKernel(Neg, 'neg');
