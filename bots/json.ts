/**
 * Equality of JSON values for bot replay, which compares every step's input and outputs: `jsonEqual(a, b)` is true
 * exactly when their canonical texts (protocol/canonical.ts) are equal, for values that came out of JSON.parse (the
 * only kind it is given: parsed guest output and decoded event bodies), without building any text.
 */

const hasOwn = Object.prototype.hasOwnProperty;

export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!hasOwn.call(b, k) || !jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
      return false;
  }
  return true;
}
