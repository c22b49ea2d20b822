// Fault injection for cluster tests, as a replica hook module (src/worker/hooks.ts): the
// worker of rank `rank` exits (code 3), throws, or hangs at step `step`, after computing its
// gradients and before its all-reduce. Workers load the compiled copy under dist/tests/
// (tsconfig.json compiles tests/helpers), so a test passes `faultHooks(...)` as
// ReplicaConfig.hooks.
import path from 'node:path';
import type { HookModuleRef, ReplicaHooks } from '../../src/worker/hooks.js';
import { repoRoot } from '../../src/util/paths.js';

export interface Fault { rank: number; step: number; kind: 'exit' | 'throw' | 'hang' }

export function createHooks(f: Fault): ReplicaHooks {
  return {
    beforeAllReduce({ step, rank }) {
      if (rank !== f.rank || step !== f.step) return;
      if (f.kind === 'exit') process.exit(3);
      if (f.kind === 'throw') throw new Error(`injected fault at step ${step}`);
      // 'hang': block this thread for good (it stops answering, as a stuck native call would).
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    },
  };
}

/** ReplicaConfig.hooks that injects fault `f`. */
export function faultHooks(f: Fault): HookModuleRef {
  return { module: path.join(repoRoot, 'dist', 'tests', 'helpers', 'fault_hooks.js'), options: f };
}
