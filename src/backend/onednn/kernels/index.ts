// Every kernel the onednn backend runs natively, one per file (tfjs's layout). Forward kernels and
// the kernels their tfjs gradients run sit side by side (Conv2D / Conv2DBackpropInput /
// Conv2DBackpropFilter, MaxPool / MaxPoolGrad, ...); the Gradia kernels (src/backend/kernel_names.ts)
// carry their own gradient where it is a tfjs gradient config (GradiaAddRelu).
import type { GradConfig, KernelConfig } from '@tensorflow/tfjs-core';
import { conv2DConfig } from './Conv2D.js';
import { fusedConv2DConfig } from './FusedConv2D.js';
import { conv2DBackpropInputConfig } from './Conv2DBackpropInput.js';
import { conv2DBackpropFilterConfig } from './Conv2DBackpropFilter.js';
import { maxPoolConfig } from './MaxPool.js';
import { avgPoolConfig } from './AvgPool.js';
import { maxPoolGradConfig } from './MaxPoolGrad.js';
import { avgPoolGradConfig } from './AvgPoolGrad.js';
import { batchMatMulConfig } from './BatchMatMul.js';
import { fusedMatMulConfig } from './_FusedMatMul.js';
import { addConfig } from './Add.js';
import { subConfig } from './Sub.js';
import { multiplyConfig } from './Multiply.js';
import { realDivConfig } from './RealDiv.js';
import { maximumConfig } from './Maximum.js';
import { minimumConfig } from './Minimum.js';
import { squaredDifferenceConfig } from './SquaredDifference.js';
import { addNConfig } from './AddN.js';
import { sumConfig } from './Sum.js';
import { meanConfig } from './Mean.js';
import { maxConfig } from './Max.js';
import { minConfig } from './Min.js';
import { reluConfig } from './Relu.js';
import { negConfig } from './Neg.js';
import { expConfig } from './Exp.js';
import { logConfig } from './Log.js';
import { sqrtConfig } from './Sqrt.js';
import { rsqrtConfig } from './Rsqrt.js';
import { squareConfig } from './Square.js';
import { absConfig } from './Abs.js';
import { stepConfig } from './Step.js';
import { sigmoidConfig } from './Sigmoid.js';
import { relu6Config } from './Relu6.js';
import { sliceConfig } from './Slice.js';
import { transposeConfig } from './Transpose.js';
import { reverseConfig } from './Reverse.js';
import { padV2Config } from './PadV2.js';
import { gradiaBnStatsConfig } from './GradiaBnStats.js';
import { gradiaBnApplyConfig } from './GradiaBnApply.js';
import { gradiaBnBackwardConfig } from './GradiaBnBackward.js';
import { gradiaReluGradConfig } from './GradiaReluGrad.js';
import { gradiaAddReluConfig, gradiaAddReluGradConfig } from './GradiaAddRelu.js';

export { gradiaAdam } from './GradiaAdam.js';
export { kernelStats, bindAddon, ONEDNN_BACKEND } from './shared.js';

/** tfjs kernels with a native implementation (each falls back to the cpu kernel where it does not apply). */
export const NATIVE_KERNELS: readonly KernelConfig[] = [
  conv2DConfig, fusedConv2DConfig, conv2DBackpropInputConfig, conv2DBackpropFilterConfig,
  maxPoolConfig, avgPoolConfig, maxPoolGradConfig, avgPoolGradConfig,
  batchMatMulConfig, fusedMatMulConfig,
  addConfig, subConfig, multiplyConfig, realDivConfig, maximumConfig, minimumConfig, squaredDifferenceConfig, addNConfig,
  sumConfig, meanConfig, maxConfig, minConfig,
  reluConfig, negConfig, expConfig, logConfig, sqrtConfig, rsqrtConfig, squareConfig, absConfig, stepConfig, sigmoidConfig, relu6Config,
  sliceConfig, transposeConfig, reverseConfig, padV2Config,
];

/** The Gradia kernels (only this backend has them; src/backend/fused/ falls back elsewhere). */
export const GRADIA_KERNELS: readonly KernelConfig[] = [
  gradiaBnStatsConfig, gradiaBnApplyConfig, gradiaBnBackwardConfig, gradiaReluGradConfig, gradiaAddReluConfig,
];

/** Gradient configs of Gradia kernels (tfjs gradients are global: registered once, used only where the kernel ran). */
export const GRADIA_GRADIENTS: readonly GradConfig[] = [gradiaAddReluGradConfig];
