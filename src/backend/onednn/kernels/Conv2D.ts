// Conv2D (NHWC, float32) on oneDNN. Its gradient is tfjs's own Conv2D gradient, which runs the
// Conv2DBackpropInput and Conv2DBackpropFilter kernels beside this file.
import { Conv2D } from '@tensorflow/tfjs-core';
import { nativeKernel } from './shared.js';
import { nativeConv } from './FusedConv2D.js';

export const conv2DConfig = nativeKernel(Conv2D, (args) => nativeConv(args, false));
