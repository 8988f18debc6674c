/**
 * A faster `decodeCanonical` with exactly its accept/reject behaviour (and its errors), for hot paths such as
 * opening every event of a long join.
 *
 * `decodeCanonical` parses, re-encodes with `canonicalString` and compares. For a parsed value whose object keys
 * already come out of `Object.keys` in sorted order, whose numbers are finite and (if integers) safe, and whose
 * nesting is within MAX_DEPTH, `JSON.stringify` writes exactly what `canonicalString` writes: same string escaping
 * (both are ECMAScript's QuoteJSONString), same number form (Number::toString, -0 as "0"), same key order, no
 * whitespace. So for such values the native `JSON.stringify` stands in for the re-encoding. Any other value
 * (integer-like keys, which V8 orders numerically; unsafe or non-finite numbers; deep nesting) takes the original
 * path, so the result, and the error, is always the one `decodeCanonical` gives.
 */
import { CanonicalError, MAX_DEPTH, canonicalString, parseJsonText, type Json } from './canonical.js';

export function decodeCanonicalFast(input: string | Uint8Array): Json {
  return decodeCanonicalText(input).value;
}

/** decodeCanonicalFast that also returns the decoded text (which, being canonical, is the value's only form). */
export function decodeCanonicalText(input: string | Uint8Array): { value: Json; text: string } {
  const { text, value } = parseJsonText(input);
  const encoded = checkParsed(value, 0, true) ? JSON.stringify(value) : canonicalString(value);
  if (encoded !== text) throw new CanonicalError('JSON is not in canonical form');
  return { value, text };
}

/**
 * Whether canonicalString(value) succeeds, for a value from JSON.parse (no unsafe integer, no deeper than MAX_DEPTH):
 * checked without building any text. Bot replay checks every step's outputs with it.
 */
export const encodable = (value: unknown): boolean => checkParsed(value as Json, 0, false);

/**
 * With `sorted`: true when JSON.stringify(value) === canonicalString(value) is certain (keys also come out of
 * Object.keys in sorted order). Without: true when canonicalString(value) does not throw. `value` comes from
 * JSON.parse: only plain objects and arrays, no cycles, no undefined or functions.
 */
function checkParsed(value: Json, depth: number, sorted: boolean): boolean {
  if (depth > MAX_DEPTH) return false;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && (Number.isSafeInteger(value) || !Number.isInteger(value));
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!checkParsed(value[i], depth + 1, sorted)) return false;
    return true;
  }
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    // Strictly ascending by UTF-16 code units (JS `<` on strings), the order canonicalString sorts into.
    if (sorted && i > 0 && !(keys[i - 1] < keys[i])) return false;
    if (!checkParsed(value[keys[i]], depth + 1, sorted)) return false;
  }
  return true;
}
