// Sigmoid: the addon's unary 'sigmoid'.
import { Sigmoid } from '@tensorflow/tfjs-core';
import { unaryKernel } from './unary_util.js';

export const sigmoidConfig = unaryKernel(Sigmoid, 'sigmoid');
