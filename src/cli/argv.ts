import { originalSpellings } from '../config/run_spec.js';

/**
 * Rewrites the original GRADIA.py's flags into gradia-dist's, so that commands from the
 * original README keep working:
 *   --n_epoch --model_name --data_dir --model_dir --attention_weight  -> dashed forms
 *   --trainWithMap -> --phase 2;  --reasonablity -> --reasonability;  --evaluate -> evaluate
 * and puts `train` in front when no subcommand is given (`gradia-dist --gpus 0,1 --phase 2`).
 */
export const SUBCOMMANDS = ['train', 'evaluate', 'predict', 'make-data', 'assess', 'demo'] as const;

/** The original's spellings (--n_epoch, --model_name, ...), from the run spec. */
const RENAMED: Record<string, string> = originalSpellings();

export function normaliseArgv(args: readonly string[]): string[] {
  const out: string[] = [];
  let evaluate = false;
  for (const raw of args) {
    const eq = raw.indexOf('=');
    const flag = raw.startsWith('--') && eq > 0 ? raw.slice(0, eq) : raw;
    const value = raw.startsWith('--') && eq > 0 ? raw.slice(eq) : '';
    if (flag === '--trainWithMap') {
      out.push('--phase', '2');
    } else if (flag === '--evaluate') {
      evaluate = true;
    } else {
      out.push((RENAMED[flag] ?? flag) + value);
    }
  }
  const first = out[0];
  const hasSubcommand = first !== undefined && (SUBCOMMANDS as readonly string[]).includes(first);
  const isHelp = first === '--help' || first === '-h' || first === '--version' || first === '-V' || first === 'help';
  if (evaluate) return hasSubcommand ? ['evaluate', ...out.slice(1)] : ['evaluate', ...out];
  // Flags only (`gradia-dist --gpus 0,1 --phase 2`): train. A word that is no command is left
  // for the parser to report as an unknown command.
  if (!hasSubcommand && !isHelp && (first === undefined || first.startsWith('-'))) return ['train', ...out];
  return out;
}
