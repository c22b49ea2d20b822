// Names of the Gradia kernels: fused ops a backend may provide (the onednn backend does). The ops
// in src/backend/fused/ run them where the active backend registers them and the same math in
// plain tfjs ops elsewhere, so model code never asks which backend is active.

/** x [.., C] -> [mean [C], biased variance [C]] over every axis but the last. */
export const GRADIA_BN_STATS = 'GradiaBnStats';
/** (x, mean, variance, gamma, beta; eps, relu) -> y = (x - mean) / sqrt(variance + eps) * gamma + beta (then ReLU). */
export const GRADIA_BN_APPLY = 'GradiaBnApply';
/** (dy, x, mean, variance, gamma, reluOut?; eps) -> [dx, dgamma, dbeta]: GradiaBnApply's gradient. */
export const GRADIA_BN_BACKWARD = 'GradiaBnBackward';
/** (dy, y) -> dy where y > 0, else 0. */
export const GRADIA_RELU_GRAD = 'GradiaReluGrad';
/** (a, b) -> max(a + b, 0), same shapes. */
export const GRADIA_ADD_RELU = 'GradiaAddRelu';
/** One Adam step in place on flat vectors (a vector kernel: src/backend/vector_kernels.ts). */
export const GRADIA_ADAM = 'GradiaAdam';
