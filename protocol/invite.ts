/**
 * Invite codes: `parley:` + base64url(canonical JSON payload ‖ 4-byte checksum), checksum = BLAKE2b-256(payload)[0..4].
 * Payload: { v:1, relays, ch, ep, key, slot, slotSeed, name }. A code is a capability (it carries the epoch key and
 * the slot secret): whoever holds it can join. Decoding never throws anything but InviteError with one clear sentence.
 */
import { z } from 'zod';
import { canonicalBytes, decodeCanonical } from './canonical.js';
import { bytesEqual, concat, fromB64u, isB64u, toB64u } from './bytes.js';
import { blake2b256 } from './hash.js';

export const INVITE_PREFIX = 'parley:';
const CHECKSUM_BYTES = 4;
const MAX_INVITE_CHARS = 8192;

export class InviteError extends Error {
  override name = 'InviteError';
}

export const RelayUrlSchema = z
  .string()
  .max(2048)
  .refine((u) => {
    try {
      const url = new URL(u);
      return url.protocol === 'ws:' || url.protocol === 'wss:';
    } catch {
      return false;
    }
  }, 'must be a ws:// or wss:// URL');

export const InviteSchema = z
  .object({
    v: z.literal(1),
    relays: z.array(RelayUrlSchema).min(1).max(8),
    ch: z.string().refine((s) => isB64u(s, 16), 'bad channel id'),
    ep: z.number().int().min(0).max(0xffffffff),
    key: z.string().refine((s) => isB64u(s, 32), 'bad epoch key'),
    slot: z.string().regex(/^(invite|admin|observer):[A-Za-z0-9_.-]{1,32}$/),
    slotSeed: z.string().refine((s) => isB64u(s, 32), 'bad slot seed'),
    name: z.string().max(200),
  })
  .strict();

export type Invite = z.infer<typeof InviteSchema>;

export function encodeInvite(invite: Invite): string {
  const payload = canonicalBytes(InviteSchema.parse(invite));
  const checksum = blake2b256(payload).subarray(0, CHECKSUM_BYTES);
  return INVITE_PREFIX + toB64u(concat(payload, checksum));
}

export function decodeInvite(code: unknown): Invite {
  if (typeof code !== 'string') throw new InviteError('The invite code must be a string.');
  const text = code.trim();
  if (!text.startsWith(INVITE_PREFIX))
    throw new InviteError('This is not a Parley invite code (it must start with "parley:").');
  if (text.length > MAX_INVITE_CHARS) throw new InviteError('The invite code is too long to be a Parley invite.');
  const raw = fromB64u(text.slice(INVITE_PREFIX.length));
  if (!raw || raw.length <= CHECKSUM_BYTES)
    throw new InviteError('The invite code is damaged: it is not valid base64url (was it cut off or altered?).');
  const payload = raw.subarray(0, raw.length - CHECKSUM_BYTES);
  const checksum = raw.subarray(raw.length - CHECKSUM_BYTES);
  if (!bytesEqual(blake2b256(payload).subarray(0, CHECKSUM_BYTES), checksum)) {
    throw new InviteError('The invite code is damaged: its checksum does not match (was it truncated or altered?).');
  }
  let json: unknown;
  try {
    json = decodeCanonical(payload);
  } catch {
    throw new InviteError('The invite code is damaged: its contents are not readable.');
  }
  const result = InviteSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new InviteError(
      `The invite code is invalid: field "${issue?.path.join('.') || '?'}" ${issue?.message ?? 'is wrong'}.`,
    );
  }
  return result.data;
}
