/**
 * Small helpers shared by the benchmarks; the statistics and the seeded generator live in dev/ (tests use them too).
 */
export { percentile, summarize } from '../dev/stats.js';
export { mulberry32 as prng } from '../dev/random.js';

export const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : String(n));
