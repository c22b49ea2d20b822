// BatchMatMul on oneDNN. Its gradient (tfjs's) is two BatchMatMuls.
import { BatchMatMul } from '@tensorflow/tfjs-core';
import { nativeKernel } from './shared.js';
import { nativeMatMul } from './matmul_util.js';

export const batchMatMulConfig = nativeKernel(BatchMatMul, ({ inputs, backend, attrs }) => {
  const at = attrs as unknown as { transposeA: boolean; transposeB: boolean };
  return nativeMatMul(backend, inputs.a, inputs.b, at.transposeA, at.transposeB);
});
