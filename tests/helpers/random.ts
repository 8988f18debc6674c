/** The seeded generator the tests share (dev/random.ts; the benchmarks use the same one). */
export { mulberry32 } from '../../dev/random.js';
