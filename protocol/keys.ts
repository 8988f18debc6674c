/**
 * Keys: identities (Ed25519, with an X25519 twin for receiving wrapped keys), epoch keys, the room key pair derived
 * from an epoch key, and the relay auth parameters signed by the room secret.
 *
 * Room seed   = BLAKE2b-256(message "parley-room", key = epochKey); room key pair = crypto_sign_seed_keypair(seed);
 *               room name = base64url(room public key).
 * Relay auth  = URL params ts (unix milliseconds, decimal) and
 *               sig = base64url(Ed25519(roomSecret, "parley-relay|" ‖ room ‖ "|" ‖ ts)).
 * Channel id  = base64url(BLAKE2b-256("parley-channel-v1" ‖ owner public key ‖ salt(16))[0..16]): the id commits to its
 *               owner, so a `channel.create` by anyone else cannot match it (node/membership.ts).
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { sodium } from './sodium.js';
import { blake2b256 } from './hash.js';
import { concat, fromB64u, toB64u, utf8 } from './bytes.js';

export interface KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export const EPOCH_KEY_BYTES = 32;
export const CHANNEL_ID_BYTES = 16;
export const AUTH_WINDOW_MS = 5 * 60 * 1000;
/** How far in the future a relay auth timestamp may be (clock skew), far less than the window into the past. */
export const AUTH_FUTURE_SKEW_MS = 30 * 1000;

export function newIdentity(seed?: Uint8Array): KeyPair {
  const s = sodium();
  const kp = seed ? s.crypto_sign_seed_keypair(seed) : s.crypto_sign_keypair();
  return { publicKey: kp.publicKey, secretKey: kp.privateKey };
}

export const memberId = (publicKey: Uint8Array): string => toB64u(publicKey);

/** The OS CSPRNG through node:crypto: libsodium's randombytes_buf costs ~100 µs per call under WebAssembly. */
export const randomBytes = (n: number): Uint8Array => new Uint8Array(nodeRandomBytes(n));
export const newEpochKey = (): Uint8Array => randomBytes(EPOCH_KEY_BYTES);
export const CHANNEL_SALT_BYTES = 16;

/** The id of a channel owned by `owner` (a member id); `salt` (base64url, 16 bytes) makes each channel distinct. */
export function ownedChannelId(owner: string, salt: string): string | null {
  const pk = fromB64u(owner, 32);
  const s = fromB64u(salt, CHANNEL_SALT_BYTES);
  if (!pk || !s) return null;
  return toB64u(blake2b256(concat(utf8('parley-channel-v1'), pk, s)).subarray(0, CHANNEL_ID_BYTES));
}

/** A new channel id for `owner`, with the salt that proves it. */
export function newChannelId(owner: string): { ch: string; salt: string } {
  const salt = toB64u(randomBytes(CHANNEL_SALT_BYTES));
  return { ch: ownedChannelId(owner, salt)!, salt };
}

/** A random id of channel-id shape, bound to no owner: for tests and benchmarks of the layers below membership. */
export const randomChannelId = (): string => toB64u(randomBytes(CHANNEL_ID_BYTES));

export function roomKeyPair(epochKey: Uint8Array): KeyPair & { room: string } {
  const seed = blake2b256(utf8('parley-room'), epochKey);
  const kp = sodium().crypto_sign_seed_keypair(seed);
  return { publicKey: kp.publicKey, secretKey: kp.privateKey, room: toB64u(kp.publicKey) };
}

const authMessage = (room: string, ts: string) => utf8(`parley-relay|${room}|${ts}`);

export function relayAuthParams(epochKey: Uint8Array, now = Date.now()): { room: string; ts: string; sig: string } {
  return roomAuthParams(roomKeyPair(epochKey), now);
}

/** `relayAuthParams` for a room key pair already derived (a node re-opening its rooms signs, and derives nothing). */
export function roomAuthParams(
  { room, secretKey }: { room: string; secretKey: Uint8Array },
  now = Date.now(),
): { room: string; ts: string; sig: string } {
  const ts = String(Math.floor(now));
  return { room, ts, sig: toB64u(sodium().crypto_sign_detached(authMessage(room, ts), secretKey)) };
}

export type AuthResult = { ok: true } | { ok: false; reason: 'missing' | 'bad-room' | 'stale' | 'bad-signature' };

/** Checks relay auth for a room name taken from the URL. Pure: `now` is passed in. */
export function checkRelayAuth(
  room: string,
  ts: string | null,
  sig: string | null,
  now: number,
  windowMs = AUTH_WINDOW_MS,
): AuthResult {
  if (!ts || !sig) return { ok: false, reason: 'missing' };
  const pk = fromB64u(room, 32);
  if (!pk) return { ok: false, reason: 'bad-room' };
  if (
    !/^\d{1,16}$/.test(ts) ||
    now - Number(ts) > windowMs ||
    Number(ts) - now > Math.min(windowMs, AUTH_FUTURE_SKEW_MS)
  )
    return { ok: false, reason: 'stale' };
  const sigBytes = fromB64u(sig, 64);
  if (!sigBytes) return { ok: false, reason: 'bad-signature' };
  let valid = false;
  try {
    valid = sodium().crypto_sign_verify_detached(sigBytes, authMessage(room, ts), pk);
  } catch {
    valid = false;
  }
  return valid ? { ok: true } : { ok: false, reason: 'bad-signature' };
}

export function sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return sodium().crypto_sign_detached(message, secretKey);
}

export function verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return sodium().crypto_sign_verify_detached(signature, message, publicKey);
  } catch {
    return false;
  }
}

/** Wraps a secret (an epoch key) to a member's identity key via its X25519 twin (crypto_box_seal). */
export function sealToMember(secret: Uint8Array, memberPublicKey: Uint8Array): Uint8Array {
  const s = sodium();
  return s.crypto_box_seal(secret, s.crypto_sign_ed25519_pk_to_curve25519(memberPublicKey));
}

/** Opens a wrapped secret with our identity; returns null if it was not sealed to us or was altered. */
export function openFromMember(sealed: Uint8Array, identity: KeyPair): Uint8Array | null {
  const s = sodium();
  try {
    const pk = s.crypto_sign_ed25519_pk_to_curve25519(identity.publicKey);
    const sk = s.crypto_sign_ed25519_sk_to_curve25519(identity.secretKey);
    return s.crypto_box_seal_open(sealed, pk, sk);
  } catch {
    return null;
  }
}
