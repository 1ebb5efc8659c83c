/**
 * How the graph benchmark compares contenders: alternating blocks of rounds in
 * which each contender runs one chunk of work in turn, the per-block ratios of
 * their costs, and chunks of runs at some concurrency.
 *
 * @module
 */

import { median, round } from "./_common.ts";
import { BLOCKS } from "./_graph_workload.ts";

/** One side of a comparison: a chunk of work and how many steps (or commits) it makes. */
export interface Contender {
  name: string;
  units: number;
  chunk(): Promise<void>;
}

/**
 * Runs one warm-up block then `BLOCKS` measured blocks. A block is `rounds`
 * rounds, and in each round every contender runs one chunk, in turn, so that
 * a burst of load elsewhere on the machine falls on all of them alike.
 * Returns ms per unit, by contender, per block, on `clock` (default: wall
 * time; a CPU-time clock measures work rather than waiting).
 */
export async function alternate(
  contenders: Contender[],
  rounds: number,
  clock: () => number = () => performance.now(),
): Promise<Map<string, number[]>> {
  const perUnit = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let block = -1; block < BLOCKS; block++) {
    const total = contenders.map(() => 0);
    for (let round = 0; round < rounds; round++) {
      for (const [i, contender] of contenders.entries()) {
        const t0 = clock();
        await contender.chunk();
        total[i]! += clock() - t0;
      }
    }
    if (block < 0) continue;
    for (const [i, contender] of contenders.entries()) {
      perUnit.get(contender.name)!.push(total[i]! / (contender.units * rounds));
    }
  }
  return perUnit;
}

/** Per-block ratios `slow / fast` of ms per unit, i.e. how many times faster `fast` is. */
export function ratios(perUnit: Map<string, number[]>, fast: string, slow: string): number[] {
  const a = perUnit.get(fast)!;
  const b = perUnit.get(slow)!;
  return a.map((ms, i) => b[i]! / ms);
}

/** The median, min and max of per-block ratios, as fields of a JSON line. */
export function ratioFields(values: number[]): Record<string, number> {
  return {
    ratio_median: round(median(values)),
    ratio_min: round(Math.min(...values)),
    ratio_max: round(Math.max(...values)),
  };
}

/** Runs `body` `runs` times, with at most `concurrency` at once. */
export async function repeat(
  runs: number,
  concurrency: number,
  body: () => Promise<void>,
): Promise<void> {
  let started = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, runs) }, async () => {
    while (started < runs) {
      started++;
      await body();
    }
  }));
}
