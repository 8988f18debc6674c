/**
 * Canonical JSON: the one byte form of a JSON value that is signed, hashed and replayed.
 *
 * - Objects: keys sorted by UTF-16 code units (Array.prototype.sort's default, identical on every engine),
 *   no whitespace, no duplicate keys.
 * - Strings: escaped exactly as ECMAScript JSON.stringify does (well-formed: lone surrogates become \uXXXX).
 * - Numbers: finite only. Integers must be safe integers (|n| ≤ 2^53−1); other finite numbers are written in
 *   ECMAScript's shortest round-trip form (Number::toString is specified exactly, so V8 and QuickJS agree);
 *   -0 is written as 0. NaN, ±Infinity, unsafe integers are rejected.
 * - Only null, booleans, numbers, strings, arrays and plain objects; undefined, functions, BigInt, symbols,
 *   cycles, class instances are rejected. Depth is capped at MAX_DEPTH.
 *
 * `decodeCanonical` accepts only canonical input: it parses and re-encodes and compares, so two different byte
 * strings never decode to the same value.
 */

import { fromUtf8, utf8 } from './bytes.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export const MAX_DEPTH = 64;

export class CanonicalError extends Error {
  override name = 'CanonicalError';
}

export function canonicalString(value: unknown): string {
  return write(value, 0, new Set());
}

export function canonicalBytes(value: unknown): Uint8Array {
  return utf8(canonicalString(value));
}

/** Builds the text by concatenation (V8 ropes): this runs for every event signed, opened and replayed. */
function write(value: unknown, depth: number, stack: Set<object>): string {
  if (depth > MAX_DEPTH) throw new CanonicalError(`nesting deeper than ${MAX_DEPTH}`);
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return numberText(value);
    case 'object':
      break;
    default:
      throw new CanonicalError(`unsupported JSON value of type ${typeof value}`);
  }
  if (value === null) return 'null';
  if (stack.has(value)) throw new CanonicalError('cyclic structure');
  stack.add(value);
  let out: string;
  if (Array.isArray(value)) {
    out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + write(value[i], depth + 1, stack);
    out += ']';
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new CanonicalError('only plain objects are JSON');
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    out = '{';
    for (let i = 0; i < keys.length; i++)
      out += (i > 0 ? ',' : '') + JSON.stringify(keys[i]) + ':' + write(record[keys[i]], depth + 1, stack);
    out += '}';
  }
  stack.delete(value);
  return out;
}

function numberText(n: number): string {
  if (!Number.isFinite(n)) throw new CanonicalError(`non-finite number ${n}`);
  if (Number.isInteger(n) && !Number.isSafeInteger(n))
    throw new CanonicalError(`integer ${n} is outside the safe range`);
  if (Object.is(n, -0)) return '0';
  return String(n);
}

/** Parses canonical JSON text; throws CanonicalError if the text is not valid JSON or not in canonical form. */
export function decodeCanonical(input: string | Uint8Array): Json {
  const { text, value } = parseJsonText(input);
  if (canonicalString(value) !== text) throw new CanonicalError('JSON is not in canonical form');
  return value;
}

/** UTF-8 bytes (or text) to text and its JSON value, with decodeCanonical's errors; the form is not checked. */
export function parseJsonText(input: string | Uint8Array): { text: string; value: Json } {
  let text: string;
  try {
    text = typeof input === 'string' ? input : fromUtf8(input);
  } catch {
    throw new CanonicalError('invalid UTF-8');
  }
  try {
    return { text, value: JSON.parse(text) as Json };
  } catch {
    throw new CanonicalError('not valid JSON');
  }
}
