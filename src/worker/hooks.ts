// Hook points of a replica: fixed moments of a training step where an optional module,
// named in ReplicaConfig.hooks, may run code inside the worker. Tests use them to make a
// worker exit, throw or hang at a chosen step (tests/helpers/fault_hooks.ts); the replica
// itself knows nothing of what a hook does. Without hooks the cost is one optional call.
import { pathToFileURL } from 'node:url';

export interface ReplicaHooks {
  /** After this replica computed the step's gradients, before it joins the all-reduce. */
  beforeAllReduce?(at: { step: number; rank: number }): void | Promise<void>;
}

/**
 * A hook module to load in every worker: `module` is the absolute path of an ES module
 * (compiled JS: worker threads and processes run plain node) exporting
 * `createHooks(options): ReplicaHooks`; `options` must survive structured cloning.
 */
export interface HookModuleRef {
  module: string;
  options?: unknown;
}

export async function loadReplicaHooks(ref: HookModuleRef | null | undefined): Promise<ReplicaHooks> {
  if (!ref) return {};
  const mod = (await import(pathToFileURL(ref.module).href)) as { createHooks?: (options: unknown) => ReplicaHooks };
  if (typeof mod.createHooks !== 'function') throw new Error(`hook module ${ref.module} exports no createHooks(options)`);
  return mod.createHooks(ref.options);
}
