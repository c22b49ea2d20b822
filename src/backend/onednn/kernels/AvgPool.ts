// AvgPool (NHWC, padding excluded). Its gradient (tfjs's AvgPool gradient) runs AvgPoolGrad beside this file.
import { AvgPool } from '@tensorflow/tfjs-core';
import { nativeKernel, opCodes } from './shared.js';
import { poolForward } from './pool_util.js';

export const avgPoolConfig = nativeKernel(AvgPool, (args) => poolForward(args, opCodes().pool.avg));
