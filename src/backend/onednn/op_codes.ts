// The op codes the native kernels take, looked up by name in the table the addon exports
// (`opCodes`, generated in native/src/addon.cc from the X-macro lists of native/src/op_codes.h).
// A name the TS side needs and the addon lacks fails registration with one line, instead of a
// bare number silently selecting another operation.

/** Every op name the kernels in kernels/ use, per family of the addon's table. */
export const NEEDED_OP_NAMES = {
  binary: ['add', 'sub', 'mul', 'div', 'max', 'min', 'squaredDifference'],
  unary: ['relu', 'neg', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'abs', 'step', 'sigmoid', 'relu6'],
  reduce: ['sum', 'mean', 'max', 'min'],
  pool: ['max', 'avg'],
  activation: ['linear', 'relu', 'relu6', 'sigmoid', 'elu', 'leakyrelu'],
} as const;

type Needed = typeof NEEDED_OP_NAMES;
export type OpFamily = keyof Needed;
/** Resolved codes: opCodes.binary.add etc. */
export type OpCodes = { readonly [F in OpFamily]: Readonly<Record<Needed[F][number], number>> };

/**
 * Checks the addon's table against NEEDED_OP_NAMES and returns the codes. Throws one line naming
 * the addon file and the first missing or malformed entry.
 */
export function resolveOpCodes(table: unknown, file: string): OpCodes {
  const fail = (what: string): never => {
    throw new Error(`${file}: the addon's op-code table ${what}; rebuild the addon with \`node scripts/build-native.mjs\``);
  };
  if (typeof table !== 'object' || table === null) fail('is missing (an addon built from older sources)');
  const out: Record<string, Record<string, number>> = {};
  for (const family of Object.keys(NEEDED_OP_NAMES) as OpFamily[]) {
    const t = (table as Record<string, unknown>)[family];
    if (typeof t !== 'object' || t === null) fail(`has no '${family}' family`);
    const codes: Record<string, number> = {};
    const seen = new Map<number, string>();
    for (const name of NEEDED_OP_NAMES[family]) {
      const code = (t as Record<string, unknown>)[name];
      if (!Number.isInteger(code) || (code as number) < 0) fail(`lacks ${family}.${name}`);
      const other = seen.get(code as number);
      if (other !== undefined) fail(`gives ${family}.${name} and ${family}.${other} the same code ${code}`);
      seen.set(code as number, name);
      codes[name] = code as number;
    }
    out[family] = codes;
  }
  return out as unknown as OpCodes;
}
