// Log: the addon's unary 'log'.
import { Log } from '@tensorflow/tfjs-core';
import { unaryKernel } from './unary_util.js';

export const logConfig = unaryKernel(Log, 'log');
