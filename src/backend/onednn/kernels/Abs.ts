// Abs: the addon's unary 'abs'.
import { Abs } from '@tensorflow/tfjs-core';
import { unaryKernel } from './unary_util.js';

export const absConfig = unaryKernel(Abs, 'abs');
