// _FusedMatMul: matmul, then the bias add and activation in place with the addon's elementwise ops.
import { backend_util, _FusedMatMul } from '@tensorflow/tfjs-core';
import { addon, f32, nativeKernel, opCodes, size } from './shared.js';
import { nativeMatMul } from './matmul_util.js';

/** The activations done natively, as addon unary ops (linear: none). */
const FUSED_ACTIVATIONS = ['linear', 'relu', 'relu6', 'sigmoid'] as const;

export const fusedMatMulConfig = nativeKernel(_FusedMatMul, ({ inputs, backend, attrs }) => {
  const { a, b, bias, preluActivationWeights } = inputs;
  const at = attrs as unknown as { transposeA: boolean; transposeB: boolean; activation: string };
  const act = (at.activation ?? 'linear') as (typeof FUSED_ACTIVATIONS)[number];
  if (preluActivationWeights || !FUSED_ACTIVATIONS.includes(act)) return null;
  if (bias && !f32(backend, bias)) return null;
  const mm = nativeMatMul(backend, a, b, at.transposeA, at.transposeB);
  if (!mm) return null;
  const curV = f32(backend, mm)!;
  const codes = opCodes();
  if (bias) {
    const bshape = backend_util.assertAndGetBroadcastShape(mm.shape, bias.shape);
    if (size(bshape) !== size(mm.shape)) { backend.disposeIntermediateTensorInfo(mm); return null; }
    addon().binary(codes.binary.add, curV, mm.shape, f32(backend, bias)!, bias.shape, curV, mm.shape);
  }
  if (act !== 'linear') addon().unary(codes.unary[act], curV, curV, curV.length, 0);
  return mm;
});
