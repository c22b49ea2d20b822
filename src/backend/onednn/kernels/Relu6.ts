// Relu6: the addon's unary 'relu6'.
import { Relu6 } from '@tensorflow/tfjs-core';
import { unaryKernel } from './unary_util.js';

export const relu6Config = unaryKernel(Relu6, 'relu6');
