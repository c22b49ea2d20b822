import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Repository root (works from src/ under vitest and from dist/src/ when compiled). */
export const repoRoot: string = (() => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const parts = here.split(path.sep);
  const i = parts.lastIndexOf('dist');
  if (i >= 0) return parts.slice(0, i).join(path.sep) || path.sep;
  return path.resolve(here, '..', '..');
})();

/**
 * Absolute path of the compiled JavaScript for a module under src/, e.g.
 * compiledEntry('worker/replica_entry') -> <root>/dist/src/worker/replica_entry.js.
 * Worker threads, child processes and piscina pools always load compiled code, so tests
 * that start them need `npm run build` first (npm test does it in pretest).
 */
export function compiledEntry(modulePathUnderSrc: string): string {
  return path.join(repoRoot, 'dist', 'src', `${modulePathUnderSrc}.js`);
}
