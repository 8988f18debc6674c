/**
 * The user's identity file: `$PARLEY_HOME/identity.json` = {v:1, seed} (Ed25519 seed, base64url), mode 0600.
 * Refuses to use a file other users can read, or one that does not parse, with a sentence saying how to fix it.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { fromB64u, isB64u, toB64u } from '../protocol/bytes.js';
import { newIdentity, randomBytes, type KeyPair } from '../protocol/keys.js';

const IdentityFileSchema = z.object({ v: z.literal(1), seed: z.string().refine((s) => isB64u(s, 32)) }).strict();

export class IdentityError extends Error {
  override name = 'IdentityError';
}

export const identityPath = (home: string) => join(home, 'identity.json');

export function ensureHome(home: string): void {
  mkdirSync(home, { recursive: true, mode: 0o700 });
}

export function loadOrCreateIdentity(home: string): KeyPair {
  ensureHome(home);
  const path = identityPath(home);
  if (!existsSync(path)) {
    const seed = randomBytes(32);
    writeFileSync(path, JSON.stringify({ v: 1, seed: toB64u(seed) }) + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
    return newIdentity(seed);
  }
  return readIdentity(path);
}

export function readIdentity(path: string): KeyPair {
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    throw new IdentityError(
      `Refusing to use ${path}: it is readable by other users (mode ${mode.toString(8)}); run: chmod 600 ${path}`,
    );
  }
  let parsed: z.infer<typeof IdentityFileSchema>;
  try {
    parsed = IdentityFileSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    throw new IdentityError(
      `The identity file ${path} is corrupt; restore it from a backup (parley identity import) or move it away to ` +
        `create a new identity.`,
    );
  }
  return newIdentity(fromB64u(parsed.seed, 32)!);
}

export function writeIdentity(home: string, seed: Uint8Array): void {
  ensureHome(home);
  const path = identityPath(home);
  writeFileSync(path, JSON.stringify({ v: 1, seed: toB64u(seed) }) + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** The 32-byte seed of a key pair (libsodium's Ed25519 secret key is seed ‖ public key). */
export const seedOf = (kp: KeyPair): Uint8Array => kp.secretKey.subarray(0, 32);
