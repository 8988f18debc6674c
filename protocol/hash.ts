/** Hashes used on the wire: BLAKE2b-256 for ids and room seeds, SHA-256 for bot code and commitments. */
import { createHash } from 'node:crypto';
import { sodium } from './sodium.js';
import { toB64u, toHex, utf8 } from './bytes.js';

export const blake2b256 = (data: Uint8Array, key?: Uint8Array): Uint8Array =>
  sodium().crypto_generichash(32, data, key ?? null);

// libsodium-wrappers' standard build has no SHA-256; Node's is the same function.
export const sha256 = (data: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(data).digest());

/** Content address of a sealed entry: base64url(BLAKE2b-256(bytes)). The relay checks this without keys. */
export const contentId = (data: Uint8Array): string => toB64u(blake2b256(data));

export const sha256Hex = (data: Uint8Array | string): string => toHex(sha256(typeof data === 'string' ? utf8(data) : data));
