// Rsqrt: the addon's unary 'rsqrt'.
import { Rsqrt } from '@tensorflow/tfjs-core';
import { unaryKernel } from './unary_util.js';

export const rsqrtConfig = unaryKernel(Rsqrt, 'rsqrt');
