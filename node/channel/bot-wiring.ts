/**
 * A channel's bots wired to this node (bots/channel-bots.ts does the running and verifying): where runner seeds
 * are kept, how steps and reveals are posted, and the owner's attach and hand-over of a bot.
 */
import { ChannelBots, type StepPayload } from '../../bots/channel-bots.js';
import { ENGINE_ID, DEFAULT_LIMITS, type Limits } from '../../bots/sandbox.js';
import { seedCommitment } from '../../bots/seed.js';
import { fromB64u, fromUtf8, toB64u, toHex, utf8 } from '../../protocol/bytes.js';
import type { EventType } from '../../protocol/event.js';
import { sha256Hex } from '../../protocol/hash.js';
import { openFromMember, randomBytes, sealToMember, type KeyPair } from '../../protocol/keys.js';
import type { MismatchClaim } from '../../bots/payloads.js';
import type { Membership } from '../membership.js';
import type { LocalStore } from '../store.js';

export interface BotWiringDeps {
  ch: string;
  me: string;
  identity: KeyPair;
  store: LocalStore;
  membership: Membership;
  /** The channel's name, for the bots' reports. */
  name(): string;
  epoch(): number;
  post(type: EventType, payload: Record<string, unknown>, ep?: number, pinnedDeps?: string[]): string;
  /** A replayed step disagreed with its runner's. */
  mismatch(claim: MismatchClaim): void;
}

export function createBots(d: BotWiringDeps): ChannelBots {
  const { ch, store } = d;
  return new ChannelBots(
    ch,
    d.membership,
    d.name,
    {
      me: d.me,
      seedFor: (slot, attachId) =>
        store.secret(ch, `bot-seed:${slot}:${attachId}`) ?? store.secret(ch, `bot-seed:${slot}`),
      postStep: (payload: StepPayload, deps: string[]) =>
        d.post('bot.step', payload as unknown as Record<string, unknown>, d.epoch(), deps),
      postReveal: (slot, seed) => d.post('bot.reveal', { bot: slot, seed }),
      openSeed: (sealed) => {
        const raw = fromB64u(sealed);
        const seed = raw && openFromMember(raw, d.identity);
        return seed ? fromUtf8(seed) : undefined;
      },
    },
    (stepId, status, claim) => {
      store.setMark(ch, stepId, status);
      if (claim) d.mismatch(claim);
    },
  );
}

/**
 * Owner: attach a bot. The runner seed stays in the local store; only its commitment (or, for a bot without hidden
 * information, the seed itself) goes into the channel.
 */
export function attachBot(
  d: BotWiringDeps,
  slot: string,
  source: string,
  params: Record<string, unknown>,
  secret: boolean,
  limits: Limits = DEFAULT_LIMITS,
): string {
  const seed = toHex(randomBytes(32));
  d.store.setSecret(d.ch, `bot-seed:${slot}`, seed);
  const codeHash = sha256Hex(source);
  d.post('bot.attach', {
    bot: slot,
    source,
    code_hash: codeHash,
    params,
    runner: d.me,
    seed_commitment: seedCommitment(seed),
    members: d.membership.members().map((m) => ({ slot: m.slot, id: m.id, name: m.name })),
    manifest: { engine: ENGINE_ID, limits, secret, hooks: ['init', 'onJoin', 'onMessage'] },
    ...(secret ? {} : { seed }),
  });
  return codeHash;
}

/**
 * Hands a bot's runner role to `to` (a member id) from the next step. A secret seed is sealed to the new runner,
 * so only it (and, after the reveal, everyone) can replay the steps.
 */
export function handOverBot(
  d: BotWiringDeps,
  bots: ChannelBots,
  slot: string,
  to: string,
  toPublicKey: Uint8Array,
): number {
  const bot = bots.info(slot)?.bot;
  if (!bot) throw new Error(`no bot in ${slot}`);
  const fromStep = bot.steps.length + 1;
  const payload: Record<string, unknown> = { bot: slot, runner: to, from_step: fromStep };
  if (bot.secret && !bot.revealed && bot.seed) payload.seed_sealed = toB64u(sealToMember(utf8(bot.seed), toPublicKey));
  d.post('bot.runner', payload);
  return fromStep;
}
