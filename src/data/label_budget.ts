/**
 * The few-shot label budget (RES's `--fw_sample N --random_seed S`): only N human maps per
 * class are used for attention supervision, drawn reproducibly from a seed and balanced
 * across classes; the other images train without a map. Unlike RES, which copies the drawn
 * images into a new folder and trains on them alone, the rest of the training set stays.
 */
import { absorb, mulberry32 } from '../util/hash.js';

export interface LabelBudget {
  /** maps kept per class */
  perClass: number;
  seed: number;
}

export interface BudgetDraw {
  /** indices (into the candidates) of the maps kept */
  keep: Set<number>;
  /** per class index: maps available and kept */
  counts: { available: number; kept: number }[];
}

/**
 * Draws `budget.perClass` candidates of every class. A pure function of the seed, each
 * candidate's class and file name: the candidates' order does not matter (each class's
 * pool is sorted by name, then partially Fisher-Yates shuffled by a PRNG seeded from
 * (seed, class)), so the draw survives a reordered directory listing. A class with fewer
 * candidates keeps them all.
 */
export function drawLabelBudget(candidates: readonly { fileName: string; label: number }[], numClasses: number, budget: LabelBudget): BudgetDraw {
  if (!Number.isInteger(budget.perClass) || budget.perClass < 0) throw new RangeError(`drawLabelBudget: perClass must be a whole number (got ${budget.perClass})`);
  const pools: number[][] = Array.from({ length: numClasses }, () => []);
  candidates.forEach((c, i) => {
    const pool = pools[c.label];
    if (!pool) throw new RangeError(`drawLabelBudget: class ${c.label} of ${c.fileName} is not below ${numClasses}`);
    pool.push(i);
  });
  const keep = new Set<number>();
  const counts = pools.map((pool, cls) => {
    pool.sort((a, b) => (candidates[a]!.fileName < candidates[b]!.fileName ? -1 : candidates[a]!.fileName > candidates[b]!.fileName ? 1 : 0));
    const k = Math.min(budget.perClass, pool.length);
    let h = 0x6c616231; // domain tag: "lab1"
    h = absorb(h, budget.seed < 0 ? -budget.seed * 2 + 1 : budget.seed * 2);
    h = absorb(h, cls);
    const rand = mulberry32(h);
    for (let i = 0; i < k; i++) {
      // unbiased enough for pools far below 2^32: the modulo's bias is < pool / 2^32
      const j = i + (rand() % (pool.length - i));
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
      keep.add(pool[i]!);
    }
    return { available: pool.length, kept: k };
  });
  return { keep, counts };
}
