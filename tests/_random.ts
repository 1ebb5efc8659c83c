/**
 * A small seeded pseudo-random generator for tests that draw kill points or
 * inputs: the same seed gives the same sequence, so a failure can be replayed.
 *
 * @module
 */

/**
 * mulberry32: a 32-bit seeded generator.
 *
 * @param seed Any integer.
 * @returns A function giving numbers in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
