/**
 * Payload schemas per event type. The event envelope is checked in protocol/event.ts; these check what is inside,
 * at delivery time, so a well-signed event with a nonsensical payload is refused like a forged one.
 */
import { z } from 'zod';
import { isB64u, fromB64u, utf8 } from '../protocol/bytes.js';
import { sign, verify } from '../protocol/keys.js';

const b64 = (n: number) => z.string().refine((s) => isB64u(s, n), `must be ${n} bytes of base64url`);

export const SlotNameSchema = z
  .string()
  .regex(
    /^(owner|(invite|admin|observer|bot):[A-Za-z0-9_.-]{1,32})$/,
    'slots look like "invite:<label>", "admin:<label>", "observer:<label>" or "bot:<name>"',
  );
export const RoleSchema = z.enum(['owner', 'admin', 'member', 'observer']);
export type Role = z.infer<typeof RoleSchema>;

/** The role a slot's holder starts with, from the slot's prefix; null for bot slots and "owner". */
export function slotRole(slot: string): Exclude<Role, 'owner'> | null {
  if (slot.startsWith('invite:')) return 'member';
  if (slot.startsWith('admin:')) return 'admin';
  if (slot.startsWith('observer:')) return 'observer';
  return null;
}
export const StatusSchema = z.enum(['working', 'waiting', 'blocked', 'complete']);

export const CreatePayload = z.object({
  name: z.string().min(1).max(200),
  slots: z.array(z.object({ slot: SlotNameSchema, pubkey: b64(32).optional() }).strict()).max(64),
  relays: z.array(z.string().max(2048)).max(8),
  expires_at: z.number().int().nullable(),
  owner_name: z.string().max(100).optional(),
  /** With the owner's key, proves the channel id (protocol/keys.ts ownedChannelId). */
  salt: b64(16),
});

export const JoinPayload = z.object({
  slot: SlotNameSchema,
  name: z.string().max(100),
  slot_sig: b64(64),
  entropy: b64(32),
});
export const MessagePayload = z.object({
  kind: z.string().min(1).max(64),
  body: z.string(),
  to: SlotNameSchema.optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
});
export const StatusPayload = z.object({ status: StatusSchema, note: z.string().max(500).optional() });
export const UpdatePayload = z.object({ name: z.string().min(1).max(200).optional() });
export const KickPayload = z.object({ slot: SlotNameSchema });
export const AdmitPayload = z.object({ slot: SlotNameSchema, member: b64(32), claim: b64(32) });
export const RolePayload = z.object({ slot: SlotNameSchema, role: RoleSchema });
export const SealedKeys = z.record(z.string(), z.string().max(200));
export const RotatePayload = z
  .object({
    next_ep: z.number().int().min(1).max(0xffffffff),
    keys: SealedKeys.refine((k) => Object.keys(k).length <= 256),
  })
  .passthrough();
export const EpochKeyPayload = z.object({ keys: z.record(z.string(), SealedKeys) });
export const EmptyPayload = z.object({});

const joinMessage = (ch: string, slot: string, author: string) => utf8(`parley-join|${ch}|${slot}|${author}`);

/** The slot key's signature binding one identity to one slot of one channel. */
export const signSlotClaim = (ch: string, slot: string, author: string, slotSecret: Uint8Array) =>
  sign(joinMessage(ch, slot, author), slotSecret);

export function checkSlotClaim(ch: string, slot: string, author: string, sig: string, slotPubkey: string): boolean {
  const s = fromB64u(sig, 64);
  const pk = fromB64u(slotPubkey, 32);
  return !!s && !!pk && verify(s, joinMessage(ch, slot, author), pk);
}
