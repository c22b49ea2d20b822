// GradiaAdam (a vector kernel, src/backend/vector_kernels.ts): one Adam step in place, multi-threaded,
// bit-identical to adamUpdateJs (src/backend/fused/adam.ts).
import type { AdamKernelArgs } from '../../fused/adam.js';
import { addon } from './shared.js';

export function gradiaAdam({ params, grads, m, v, s }: AdamKernelArgs): void {
  addon().adamStep(params, grads, m, v, params.length, s.stepSize, s.bc2Sqrt, s.b1, s.b2, s.a1, s.a2, s.eps);
}
