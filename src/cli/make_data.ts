/** `gradia-dist make-data`: write a generated data set in the original GRADIA layout. */
import { generateDataSet, MAKE_DATA_DEFAULTS, type GenerateOptions } from '../data/generator.js';

export { MAKE_DATA_DEFAULTS };

export async function makeDataCommand(opts: GenerateOptions): Promise<void> {
  const s = await generateDataSet(opts);
  const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
  if (s.reused) console.log(`make-data: ${s.out} already holds this data set (same options); kept`);
  else console.log(`make-data: wrote ${s.out}`);
  // files of an earlier make-data changed since (e.g. by `assess`): not make-data's any more, so left in place
  if (s.kept.length > 0) console.log(`  kept ${s.kept.join(', ')} (changed since make-data wrote ${s.kept.length === 1 ? 'it; it' : 'them; they'} may describe the previous data set)`);
  console.log(
    `  train ${s.counts.train}, val ${s.counts.val}, test ${s.counts.test} images of ${opts.size}x${opts.size} (classes circle, cross); ` +
      `context patch agrees with the class in ${pct(s.cueAgreement.train)} of train, ${pct(s.cueAgreement.val)} of val, ${pct(s.cueAgreement.test)} of test`,
  );
  if (!s.reused && !s.kept.includes('reasonablity_val.json')) console.log('  reasonablity_val.json is {} until `gradia-dist assess` judges a phase-1 model');
}
