// Exp: the addon's unary 'exp'.
import { Exp } from '@tensorflow/tfjs-core';
import { unaryKernel } from './unary_util.js';

export const expConfig = unaryKernel(Exp, 'exp');
