/**
 * Presence: the ephemeral state a node publishes in y-protocols awareness (online, status heartbeat, frontier
 * beacon). Sealed like an event so the relay sees only ciphertext, and signed so a peer cannot fake another's.
 *
 *   blob = base64url(nonce(24) ‖ XChaCha20-Poly1305(epochKey, body ‖ Ed25519 sig, AD = "parley-presence" ‖ ch ‖ ep))
 *   body = canonical JSON { author, ts, status?, note?, heads? }, signature context "parley-presence-v1".
 */
import { z } from 'zod';
import { sodium } from './sodium.js';
import { canonicalBytes, decodeCanonical } from './canonical.js';
import { concat, fromB64u, isB64u, toB64u, utf8 } from './bytes.js';
import { sign, verify, type KeyPair, randomBytes } from './keys.js';
import { associatedData, NONCE_BYTES, SIGNATURE_BYTES, type EpochContext } from './event.js';

const CONTEXT = utf8('parley-presence-v1');
const MAX_BLOB_CHARS = 16 * 1024;

export const PresenceSchema = z
  .object({
    author: z.string().refine((s) => isB64u(s, 32)),
    ts: z.number().int().nonnegative(),
    status: z.enum(['working', 'waiting', 'blocked', 'complete']).optional(),
    note: z.string().max(500).optional(),
    heads: z.record(z.string(), z.number().int().nonnegative()).optional(),
  })
  .strict();
export type Presence = z.infer<typeof PresenceSchema>;

const ad = (epoch: EpochContext) => concat(utf8('parley-presence'), associatedData(epoch.ch, epoch.ep));

export function sealPresence(p: Presence, identity: KeyPair, epoch: EpochContext): string {
  const body = canonicalBytes(PresenceSchema.parse(p));
  const signed = concat(body, sign(concat(CONTEXT, body), identity.secretKey));
  const nonce = randomBytes(NONCE_BYTES);
  return toB64u(
    concat(nonce, sodium().crypto_aead_xchacha20poly1305_ietf_encrypt(signed, ad(epoch), null, nonce, epoch.key)),
  );
}

/** Opens a presence blob; null for anything forged, altered, from another room, or malformed. */
export function openPresence(blob: unknown, epoch: EpochContext): Presence | null {
  if (typeof blob !== 'string' || blob.length > MAX_BLOB_CHARS) return null;
  const raw = fromB64u(blob);
  if (!raw || raw.length < NONCE_BYTES + 16 + SIGNATURE_BYTES) return null;
  try {
    const signed = sodium().crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      raw.subarray(NONCE_BYTES),
      ad(epoch),
      raw.subarray(0, NONCE_BYTES),
      epoch.key,
    );
    const body = signed.subarray(0, signed.length - SIGNATURE_BYTES);
    const p = PresenceSchema.parse(decodeCanonical(body));
    const pk = fromB64u(p.author, 32)!;
    return verify(signed.subarray(signed.length - SIGNATURE_BYTES), concat(CONTEXT, body), pk) ? p : null;
  } catch {
    return null;
  }
}
