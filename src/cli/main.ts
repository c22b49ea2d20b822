import { main } from './program.js';

// Entry point of bin/gradia-dist.js.
const code = await main(process.argv.slice(2));
process.exitCode = code;

/** Resolves once everything written to `stream` so far has been handed to the OS. */
const flushed = (stream: NodeJS.WriteStream): Promise<void> => new Promise((resolve) => {
  // A write callback runs after the writes queued before it; a closed reader (EPIPE) ends it too.
  if (stream.destroyed || !stream.writable) { resolve(); return; }
  stream.once('error', () => resolve());
  stream.write('', () => resolve());
});

// Worker pools or servers must not keep a finished command alive, but a pipe reader must
// get every byte first: process.exit drops what a pipe has not taken yet.
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
setImmediate(() => process.exit(code));
