/**
 * Cheap checks on JSON values for bot replay, which runs them on every step. Both agree with protocol/canonical.ts:
 * `jsonEqual(a, b)` is true exactly when the canonical texts are equal, and `encodable(v)` exactly when
 * canonicalString(v) would not throw — for values that came out of JSON.parse (the only kind they are given:
 * parsed guest output and decoded event bodies), without building any text.
 */
import { MAX_DEPTH } from '../protocol/canonical.js';

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
    if (!hasOwn.call(b, k) || !jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** Whether a parsed JSON value has a canonical form (mirrors canonical.ts `write`, minus the cycle check). */
export function encodable(value: unknown, depth = 0): boolean {
  if (depth > MAX_DEPTH) return false;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && (!Number.isInteger(value) || Number.isSafeInteger(value));
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!encodable(value[i], depth + 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k of Object.keys(value)) if (!encodable((value as Record<string, unknown>)[k], depth + 1)) return false;
  return true;
}
