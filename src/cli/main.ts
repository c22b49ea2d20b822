import { main } from './program.js';

// Entry point of bin/gradia-dist.js.
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Worker pools or servers must not keep a finished command alive.
setImmediate(() => process.exit(code));
