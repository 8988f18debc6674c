/**
 * A hand-written fast path for `EventBodySchema` (protocol/event.ts), used on every event opened.
 *
 * `fastBody` returns the value as an EventBody only when every rule of the schema certainly holds; anything else
 * (including every invalid body) returns null, and the caller runs the zod schema, whose verdict and message are
 * then the answer. So this can only make accepting faster, never accept more: each check below is at least as
 * strict as the schema's.
 */
import type { EventBody } from './event.js';
import { EVENT_TYPES, MAX_DEPS } from './event-types.js';

const KEYS = ['author', 'ch', 'deps', 'ep', 'lamport', 'payload', 'prev', 'seq', 'ts', 'type', 'v'];
const TYPES = new Set<string>(EVENT_TYPES);

/** 6-bit value of each base64url character, -1 for anything else. */
const B64U = new Int8Array(128).fill(-1);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) {
  B64U[c.charCodeAt(0)] = i;
}

/**
 * The canonical unpadded base64url text of exactly `bytes` bytes (what protocol/bytes `isB64u` accepts): the
 * right length, only alphabet characters, and zero in the last character's bits that encode no byte.
 */
export function isB64uOf(text: unknown, bytes: number): text is string {
  const length = Math.ceil((bytes * 4) / 3);
  if (typeof text !== 'string' || text.length !== length) return false;
  let v = 0;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    v = c < 128 ? B64U[c] : -1;
    if (v < 0) return false;
  }
  const spare = length * 6 - bytes * 8;
  return (v & ((1 << spare) - 1)) === 0;
}

const isId = (x: unknown): x is string => isB64uOf(x, 32);
const isInt = (x: unknown, min: number, max = Number.MAX_SAFE_INTEGER): x is number =>
  typeof x === 'number' && Number.isSafeInteger(x) && x >= min && x <= max;
const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x) && Object.getPrototypeOf(x) === Object.prototype;

/** The value itself when it certainly satisfies EventBodySchema; null when the schema must decide. */
export function fastBody(json: unknown): EventBody | null {
  if (!isRecord(json)) return null;
  const keys = Object.keys(json);
  if (keys.length !== KEYS.length) return null;
  for (let i = 0; i < KEYS.length; i++) if (keys[i] !== KEYS[i]) return null;
  const b = json as Record<string, unknown>;
  if (
    b.v !== 1 ||
    !isB64uOf(b.ch, 16) ||
    !isInt(b.ep, 0, 0xffffffff) ||
    typeof b.type !== 'string' ||
    !TYPES.has(b.type)
  )
    return null;
  if (!isId(b.author) || !isInt(b.seq, 1) || !isInt(b.lamport, 1) || !isInt(b.ts, 0)) return null;
  if (b.prev === null ? b.seq !== 1 : b.seq === 1 || !isId(b.prev)) return null;
  const deps = b.deps;
  if (!Array.isArray(deps) || deps.length > MAX_DEPS) return null;
  for (let i = 0; i < deps.length; i++) if (!isId(deps[i]) || (i > 0 && !(deps[i - 1] < deps[i]))) return null;
  // zod's record drops an own "__proto__" key from its output: leave such payloads to zod, so the value is the same.
  const payload = b.payload;
  if (!isRecord(payload) || Object.hasOwn(payload, '__proto__')) return null;
  return json as unknown as EventBody;
}
