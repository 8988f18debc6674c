/**
 * Bot randomness (docs/DESIGN.md "Bots"): the runner commits to a secret seed in `bot.attach`; members' join
 * entropy is mixed into an accumulator in delivery order; step n draws from H(seed ‖ accumulator ‖ n). The runner
 * could not predict the entropy when it committed, and cannot change its seed afterwards.
 */
import { sha256Hex } from '../protocol/hash.js';
import { toHex } from '../protocol/bytes.js';
import { randomBytes } from '../protocol/keys.js';

const HEX64 = /^[0-9a-f]{64}$/;

function need(hex: string, what: string): string {
  if (!HEX64.test(hex)) throw new Error(`${what} must be 64 lowercase hex characters`);
  return hex;
}

export const entropyStart = (channelId: string): string => sha256Hex(`parley/bot-entropy/v1|${channelId}`);

export const mixEntropy = (acc: string, entropyHex: string): string =>
  sha256Hex(`parley/bot-mix/v1|${need(acc, 'accumulator')}|${need(entropyHex, 'entropy')}`);

export const stepRandom = (seedHex: string, accHex: string, n: number): string => stepRandoms(seedHex, accHex)(n);

/** stepRandom for one seed and accumulator, checked once: replay draws one per step. */
export function stepRandoms(seedHex: string, accHex: string): (n: number) => string {
  const prefix = `parley/bot-step/v1|${need(seedHex, 'seed')}|${need(accHex, 'accumulator')}|`;
  return (n) => sha256Hex(prefix + n);
}

export const seedCommitment = (seedHex: string): string => sha256Hex(`parley/bot-seed/v1|${seedHex}`);

export const newSeed = (): string => toHex(randomBytes(32));

/**
 * The guest PRNG's (sfc32, bots/prelude.ts) starting state for a step: the step random's 128 leading bits, then 12
 * rounds discarded. Computed here rather than in the guest, where the same integer arithmetic is far slower.
 */
export function prngState(randomHex: string): [number, number, number, number] {
  // Buffer's hex decoder stops at the first non-hex pair, and the case test is cheaper than a regex on every step.
  const bytes = Buffer.from(randomHex, 'hex');
  if (bytes.length !== 32 || randomHex.length !== 64 || randomHex !== randomHex.toLowerCase())
    need(randomHex, 'step random');
  let a = bytes.readInt32BE(0);
  let b = bytes.readInt32BE(4);
  let c = bytes.readInt32BE(8);
  let d = bytes.readInt32BE(12);
  for (let i = 0; i < 12; i++) {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
  }
  return [a, b, c, d];
}
