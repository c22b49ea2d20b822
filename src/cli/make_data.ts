/** `gradia-dist make-data`: write a generated data set in the original GRADIA layout. */
import { generateDataSet, MAKE_DATA_DEFAULTS, type GenerateOptions } from '../data/generator.js';

export { MAKE_DATA_DEFAULTS };

export async function makeDataCommand(opts: GenerateOptions): Promise<void> {
  const s = await generateDataSet(opts);
  const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
  if (s.reused) console.log(`make-data: ${s.out} already holds this data set (same options); kept`);
  else if (s.replaced) console.log(`make-data: replaced its earlier data set in ${s.out} (files it did not write were left alone)`);
  else console.log(`make-data: wrote ${s.out}`);
  // files of an earlier make-data changed since (e.g. by `assess`): not make-data's any more, so left in place
  for (const f of s.kept) {
    if (f === 'reasonablity_val.json') console.log(`  kept ${f}: changed since make-data wrote it (by \`gradia-dist assess\` or a person); it judges the previous data set, so assess again`);
    else console.log(`  kept ${f}: changed since make-data wrote it, so not removed; it is still inside the data set's folders (remove it by hand if it does not belong)`);
  }
  console.log(
    `  train ${s.counts.train}, val ${s.counts.val}, test ${s.counts.test} images of ${opts.size}x${opts.size} (classes circle, cross); ` +
      `context patch agrees with the class in ${pct(s.cueAgreement.train)} of train, ${pct(s.cueAgreement.val)} of val, ${pct(s.cueAgreement.test)} of test`,
  );
  if (opts.negatives) console.log('  the human maps mark the context patch -1 ("do not look here")');
  if (!s.reused && !s.kept.includes('reasonablity_val.json')) console.log('  reasonablity_val.json is {} until `gradia-dist assess` judges a phase-1 model');
}
