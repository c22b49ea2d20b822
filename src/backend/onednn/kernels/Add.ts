// Add: the addon's binary 'add' (numpy broadcasting).
import { Add } from '@tensorflow/tfjs-core';
import { binaryKernel } from './binary_util.js';

export const addConfig = binaryKernel(Add, 'add');
