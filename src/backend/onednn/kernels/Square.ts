// Square: the addon's unary 'square'.
import { Square } from '@tensorflow/tfjs-core';
import { unaryKernel } from './unary_util.js';

export const squareConfig = unaryKernel(Square, 'square');
