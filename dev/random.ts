/**
 * mulberry32: the one small seeded generator of the tests and the benchmarks, so generated inputs are the same every
 * run and a failure reproduces from its seed. Not for anything secret (bots draw from bots/seed.ts).
 */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
