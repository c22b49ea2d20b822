// MaxPool (NHWC). Its gradient (tfjs's MaxPool gradient) runs MaxPoolGrad beside this file.
import { MaxPool } from '@tensorflow/tfjs-core';
import { nativeKernel, opCodes } from './shared.js';
import { poolForward } from './pool_util.js';

export const maxPoolConfig = nativeKernel(MaxPool, (args) => poolForward(args, opCodes().pool.max));
