// Fused ops for model code: each runs its Gradia kernels (src/backend/kernel_names.ts) where the
// active backend registers them and the same math in plain tfjs ops (or JS) elsewhere, so the
// model never asks which backend is active.
export { batchNormTrain, channelSum, compositeBatchNormTrain, kernelBatchNormTrain, type StatsSink } from './batch_norm.js';
export { addRelu } from './add_relu.js';
export { adamScalars, adamUpdate, adamUpdateJs, type AdamHyper, type AdamScalars, type AdamKernelArgs } from './adam.js';
export { nativeConvGradient } from './conv_gradient.js';
