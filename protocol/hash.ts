/** Hashes used on the wire: BLAKE2b-256 for ids and room seeds, SHA-256 for bot code and commitments. */
import * as nodeCrypto from 'node:crypto';
import { sodium } from './sodium.js';
import { toB64u } from './bytes.js';

export const blake2b256 = (data: Uint8Array, key?: Uint8Array): Uint8Array =>
  sodium().crypto_generichash(32, data, key ?? null);

// libsodium-wrappers' standard build has no SHA-256; Node's is the same function.
export const sha256 = (data: Uint8Array): Uint8Array =>
  new Uint8Array(nodeCrypto.createHash('sha256').update(data).digest());

/** Content address of a sealed entry: base64url(BLAKE2b-256(bytes)). The relay checks this without keys. */
export const contentId = (data: Uint8Array): string => toB64u(blake2b256(data));

/** One-shot `crypto.hash` (Node ≥ 20.12) is several times cheaper than a Hash object; replay hashes every step. */
const oneShot = (nodeCrypto as { hash?: (alg: string, data: string | Uint8Array, enc: 'hex') => string }).hash;

/** SHA-256 as lowercase hex; a string is hashed as its UTF-8 bytes. */
export const sha256Hex = (data: Uint8Array | string): string =>
  oneShot ? oneShot('sha256', data, 'hex') : nodeCrypto.createHash('sha256').update(data).digest('hex');
