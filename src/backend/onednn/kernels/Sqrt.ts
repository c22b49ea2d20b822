// Sqrt: the addon's unary 'sqrt'.
import { Sqrt } from '@tensorflow/tfjs-core';
import { unaryKernel } from './unary_util.js';

export const sqrtConfig = unaryKernel(Sqrt, 'sqrt');
