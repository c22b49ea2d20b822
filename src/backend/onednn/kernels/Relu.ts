// Relu: the addon's unary 'relu'.
import { Relu } from '@tensorflow/tfjs-core';
import { unaryKernel } from './unary_util.js';

export const reluConfig = unaryKernel(Relu, 'relu');
