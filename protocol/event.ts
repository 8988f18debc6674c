/**
 * Events: the signed, sealed, content-addressed unit of every channel.
 *
 *   body   = canonical JSON of { v:1, ch, ep, type, author, seq, prev, deps, lamport, ts, payload }
 *   signed = body ‖ signature            signature = Ed25519(author, "parley-event-v1" ‖ body), 64 bytes, last
 *   sealed = nonce(24) ‖ XChaCha20-Poly1305(epochKey, signed, AD = "parley" ‖ ch(16 raw bytes) ‖ ep(u32 BE))
 *   id     = base64url(BLAKE2b-256(sealed))
 *
 * `openEvent` never throws on hostile bytes: it returns a reason. Signature checks can be deferred (amortised over
 * an author's hash chain, see node/ingest) by passing `verifySignature: false` and calling `verifyEventSignature`.
 */
import { z } from 'zod';
import { sodium } from './sodium.js';
import { canonicalBytes, CanonicalError } from './canonical.js';
import { decodeCanonicalText } from './canonical-fast.js';
import { fastBody } from './body-check.js';
import { EVENT_TYPES, MAX_DEPS, type EventType } from './event-types.js';
import { concat, fromB64u, fromUtf8, isB64u, utf8 } from './bytes.js';
import { contentId } from './hash.js';
import { sign, verify, randomBytes } from './keys.js';

export const EVENT_VERSION = 1;
export const NONCE_BYTES = 24;
export const SIGNATURE_BYTES = 64;
export const TAG_BYTES = 16;
/** Largest sealed event; the relay's default maxValueBytes is the same. */
export const MAX_SEALED_BYTES = 64 * 1024;

const SIGN_CONTEXT = utf8('parley-event-v1');

export { EVENT_TYPES, MAX_DEPS, type EventType };

const id = z.string().refine((s) => isB64u(s, 32), 'must be a 32-byte base64url id');
const int = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const EventBodySchema = z
  .object({
    v: z.literal(EVENT_VERSION),
    ch: z.string().refine((s) => isB64u(s, 16), 'must be a 16-byte base64url channel id'),
    ep: int.max(0xffffffff),
    type: z.enum(EVENT_TYPES),
    author: id,
    seq: int.min(1),
    prev: id.nullable(),
    deps: z.array(id).max(MAX_DEPS),
    lamport: int.min(1),
    ts: int,
    payload: z.record(z.string(), z.unknown()),
  })
  .strict()
  .refine((b) => (b.seq === 1) === (b.prev === null), 'prev must be null exactly when seq is 1')
  .refine((b) => b.deps.every((d, i) => i === 0 || b.deps[i - 1] < d), 'deps must be sorted and unique');

export type EventBody = z.infer<typeof EventBodySchema>;

export interface OpenedEvent {
  id: string;
  body: EventBody;
  bodyBytes: Uint8Array;
  /** bodyBytes as text (canonical JSON), already decoded when the body was checked. */
  bodyText: string;
  signature: Uint8Array;
  sealed: Uint8Array;
}

export type OpenFailure =
  | 'too-short'
  | 'too-large'
  | 'decrypt'
  | 'not-canonical'
  | 'bad-body'
  | 'wrong-channel'
  | 'wrong-epoch'
  | 'bad-signature';

export type OpenResult = { ok: true; event: OpenedEvent } | { ok: false; reason: OpenFailure; detail?: string };

export interface EpochContext {
  ch: string;
  ep: number;
  key: Uint8Array;
}

const adCache = new Map<string, Uint8Array>();

export function associatedData(ch: string, ep: number): Uint8Array {
  const cacheKey = `${ch}/${ep}`;
  const cached = adCache.get(cacheKey);
  if (cached) return cached;
  const ad = buildAssociatedData(ch, ep);
  if (adCache.size > 1024) adCache.clear();
  adCache.set(cacheKey, ad);
  return ad;
}

function buildAssociatedData(ch: string, ep: number): Uint8Array {
  const chBytes = fromB64u(ch, 16);
  if (!chBytes) throw new TypeError(`invalid channel id ${JSON.stringify(ch)}`);
  const epBytes = new Uint8Array(4);
  new DataView(epBytes.buffer).setUint32(0, ep);
  return concat(utf8('parley'), chBytes, epBytes);
}

/** A body as its author signed it: what `openEvent` would give back, without opening anything. */
export interface SignedEvent {
  /** The schema-checked body (exactly what `bodyText` encodes). */
  body: EventBody;
  /** The canonical JSON that was signed. */
  bodyText: string;
  signature: Uint8Array;
  /** Body bytes then signature: what `sealEvent` seals. */
  signed: Uint8Array;
}

/**
 * Encodes and signs a body, keeping its parts: the author delivers its own event from them (node/channel/authoring.ts)
 * instead of opening its own sealed bytes. Throws if the body does not satisfy the schema (a bug in the caller).
 */
export function signEventParts(body: EventBody, secretKey: Uint8Array): SignedEvent {
  const parsed = EventBodySchema.parse(body);
  const bytes = canonicalBytes(parsed);
  const signature = sign(concat(SIGN_CONTEXT, bytes), secretKey);
  return { body: parsed, bodyText: fromUtf8(bytes), signature, signed: concat(bytes, signature) };
}

/** Encodes and signs a body. Throws if the body does not satisfy the schema (a bug in the caller). */
export function signEvent(body: EventBody, secretKey: Uint8Array): Uint8Array {
  return signEventParts(body, secretKey).signed;
}

/** Seals signed bytes for an epoch. `nonce` is for known-answer tests only; production uses a random one. */
export function sealEvent(
  signed: Uint8Array,
  epoch: EpochContext,
  nonce?: Uint8Array,
): { id: string; sealed: Uint8Array } {
  const s = sodium();
  const n = nonce ?? randomBytes(NONCE_BYTES);
  if (n.length !== NONCE_BYTES) throw new TypeError('nonce must be 24 bytes');
  const cipher = s.crypto_aead_xchacha20poly1305_ietf_encrypt(
    signed,
    associatedData(epoch.ch, epoch.ep),
    null,
    n,
    epoch.key,
  );
  const sealed = concat(n, cipher);
  return { id: contentId(sealed), sealed };
}

export function verifyEventSignature(bodyBytes: Uint8Array, signature: Uint8Array, author: string): boolean {
  const pk = fromB64u(author, 32);
  return pk !== null && verify(signature, concat(SIGN_CONTEXT, bodyBytes), pk);
}

/**
 * Decrypts, parses and (unless told not to) verifies a sealed event. `id` may pass the caller's already checked
 * contentId(sealed) to save hashing it twice.
 */
export function openEvent(
  sealed: Uint8Array,
  epoch: EpochContext,
  opts: { verifySignature?: boolean; id?: string } = {},
): OpenResult {
  if (sealed.length > MAX_SEALED_BYTES) return { ok: false, reason: 'too-large' };
  if (sealed.length < NONCE_BYTES + TAG_BYTES + SIGNATURE_BYTES + 2) return { ok: false, reason: 'too-short' };
  let signed: Uint8Array;
  try {
    signed = sodium().crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      sealed.subarray(NONCE_BYTES),
      associatedData(epoch.ch, epoch.ep),
      sealed.subarray(0, NONCE_BYTES),
      epoch.key,
    );
  } catch {
    return { ok: false, reason: 'decrypt' };
  }
  const bodyBytes = signed.subarray(0, signed.length - SIGNATURE_BYTES);
  const signature = signed.subarray(signed.length - SIGNATURE_BYTES);
  const parsed = parseBody(bodyBytes);
  if (!parsed.ok) return parsed;
  const body = parsed.body;
  if (body.ch !== epoch.ch) return { ok: false, reason: 'wrong-channel' };
  if (body.ep !== epoch.ep) return { ok: false, reason: 'wrong-epoch' };
  if (opts.verifySignature !== false && !verifyEventSignature(bodyBytes, signature, body.author)) {
    return { ok: false, reason: 'bad-signature' };
  }
  return {
    ok: true,
    event: { id: opts.id ?? contentId(sealed), body, bodyBytes, bodyText: parsed.text, signature, sealed },
  };
}

/** Parses canonical body bytes (also used by offline verification of exported transcripts). */
export function parseBody(
  bodyBytes: Uint8Array,
): { ok: true; body: EventBody; text: string } | { ok: false; reason: 'not-canonical' | 'bad-body'; detail?: string } {
  let decoded: { value: unknown; text: string };
  try {
    // Same verdict as decodeCanonical (see canonical-fast.ts), a few times cheaper.
    decoded = decodeCanonicalText(bodyBytes);
  } catch (err) {
    return { ok: false, reason: 'not-canonical', detail: err instanceof CanonicalError ? err.message : undefined };
  }
  const { value, text } = decoded;
  const fast = fastBody(value);
  if (fast) return { ok: true, body: fast, text };
  const result = EventBodySchema.safeParse(value);
  if (!result.success) return { ok: false, reason: 'bad-body', detail: result.error.issues[0]?.message };
  return { ok: true, body: result.data, text };
}

/**
 * Lamport clock of an event: 1 + the largest lamport among what it depends on (its `deps` and its author's `prev`);
 * an unknown id counts as 0. The one rule for authoring (node/channel/authoring.ts) and checking (node/event-rules.ts,
 * for ingest and offline verification). No allocation: ingest runs it for every event of a long join.
 */
export function nextLamport(
  deps: readonly string[],
  prev: string | null,
  lamportOf: (id: string) => number | undefined,
): number {
  let max = prev === null ? 0 : (lamportOf(prev) ?? 0);
  for (let i = 0; i < deps.length; i++) {
    const l = lamportOf(deps[i]) ?? 0;
    if (l > max) max = l;
  }
  return max + 1;
}

/** The total order used wherever one is needed (membership races, bot inputs): (lamport, id). */
export function compareEvents(a: { lamport: number; id: string }, b: { lamport: number; id: string }): number {
  if (a.lamport !== b.lamport) return a.lamport - b.lamport;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
