/**
 * Bot randomness (DESIGN.md "Randomness"): the runner commits to a secret seed in `bot.attach`; members' join
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

export const mixEntropy = (acc: string, entropyHex: string): string => sha256Hex(`parley/bot-mix/v1|${need(acc, 'accumulator')}|${need(entropyHex, 'entropy')}`);

export const stepRandom = (seedHex: string, accHex: string, n: number): string =>
  sha256Hex(`parley/bot-step/v1|${need(seedHex, 'seed')}|${need(accHex, 'accumulator')}|${n}`);

export const seedCommitment = (seedHex: string): string => sha256Hex(`parley/bot-seed/v1|${seedHex}`);

export const newSeed = (): string => toHex(randomBytes(32));
