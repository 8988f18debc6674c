/**
 * Passphrase-protected identity backups: Argon2id (crypto_pwhash, "interactive" limits) derives a key that seals
 * the 32-byte identity seed with XSalsa20-Poly1305 (crypto_secretbox).
 *
 *   { format: "parley-identity", v: 1, id, salt, ops, mem, nonce, box }   (binary fields base64url)
 *
 * crypto_pwhash is only in libsodium's "sumo" build, which is about twice the size of the standard one; it is loaded
 * here, lazily, so only the identity export/import commands pay for it (docs/DESIGN-NOTES.md).
 */
import { z } from 'zod';
import { sodium } from './sodium.js';
import { fromB64u, toB64u } from './bytes.js';
import { memberId, newIdentity } from './keys.js';

export class BackupError extends Error {
  override name = 'BackupError';
}

const BackupSchema = z.object({
  format: z.literal('parley-identity'),
  v: z.literal(1),
  id: z.string(),
  salt: z.string(),
  ops: z.number().int().min(1).max(64),
  mem: z
    .number()
    .int()
    .min(8192)
    .max(1 << 30),
  nonce: z.string(),
  box: z.string(),
});

type Sumo = typeof import('libsodium-wrappers-sumo')['default'];

async function sumo(): Promise<Sumo> {
  const s = (await import('libsodium-wrappers-sumo')).default;
  await s.ready;
  return s;
}

async function deriveKey(passphrase: string, salt: Uint8Array, ops: number, mem: number): Promise<Uint8Array> {
  const s = await sumo();
  return s.crypto_pwhash(s.crypto_secretbox_KEYBYTES, passphrase, salt, ops, mem, s.crypto_pwhash_ALG_ARGON2ID13);
}

export async function encryptSeed(seed: Uint8Array, passphrase: string): Promise<string> {
  if (passphrase.length < 8) throw new BackupError('The passphrase must be at least 8 characters.');
  const s = sodium();
  const p = await sumo();
  const salt = s.randombytes_buf(p.crypto_pwhash_SALTBYTES);
  const ops = p.crypto_pwhash_OPSLIMIT_INTERACTIVE;
  const mem = p.crypto_pwhash_MEMLIMIT_INTERACTIVE;
  const nonce = s.randombytes_buf(s.crypto_secretbox_NONCEBYTES);
  const box = s.crypto_secretbox_easy(seed, nonce, await deriveKey(passphrase, salt, ops, mem));
  const id = memberId(newIdentity(seed).publicKey);
  return (
    JSON.stringify(
      { format: 'parley-identity', v: 1, id, salt: toB64u(salt), ops, mem, nonce: toB64u(nonce), box: toB64u(box) },
      null,
      2,
    ) + '\n'
  );
}

export async function decryptSeed(text: string, passphrase: string): Promise<Uint8Array> {
  let file: z.infer<typeof BackupSchema>;
  try {
    file = BackupSchema.parse(JSON.parse(text));
  } catch {
    throw new BackupError('This is not a Parley identity backup (or it is damaged).');
  }
  const salt = fromB64u(file.salt, (await sumo()).crypto_pwhash_SALTBYTES);
  const nonce = fromB64u(file.nonce, sodium().crypto_secretbox_NONCEBYTES);
  const box = fromB64u(file.box);
  if (!salt || !nonce || !box) throw new BackupError('The identity backup is damaged.');
  const key = await deriveKey(passphrase, salt, file.ops, file.mem);
  let seed: Uint8Array;
  try {
    seed = sodium().crypto_secretbox_open_easy(box, nonce, key);
  } catch {
    throw new BackupError('Wrong passphrase (or the backup was altered).');
  }
  if (seed.length !== 32 || memberId(newIdentity(seed).publicKey) !== file.id)
    throw new BackupError('The identity backup is damaged.');
  return seed;
}
