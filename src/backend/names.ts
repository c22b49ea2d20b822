// The backends a run can ask for (`--backend`), without loading tfjs.
export const BACKEND_REQUESTS = ['auto', 'tensorflow', 'onednn', 'wasm', 'cpu'] as const;
export type BackendRequest = (typeof BACKEND_REQUESTS)[number];
