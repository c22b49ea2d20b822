// Step: the addon's unary 'step'.
import { Step } from '@tensorflow/tfjs-core';
import { unaryKernel } from './unary_util.js';

export const stepConfig = unaryKernel(Step, 'step');
