/** The node's bot tools (attach_bot, get_bot, hand_over_bot) and read-only verification marks for CLI views. */
import type { ParleyNode } from './service.js';
import type { Channel } from './channel.js';
import type { BotHooks } from './mcp.js';
import type { LocalStore } from './store.js';
import type { Verification } from './messages.js';
import { ToolError } from './errors.js';
import { fromB64u } from '../protocol/bytes.js';
import { loadPreset, PRESET_NAMES } from '../bots/presets.js';
import { requestLimits } from '../bots/sandbox.js';

/** How long a runner may leave an input unanswered before get_bot calls the bot paused (PARLEY_BOT_PAUSED_MS). */
const PAUSED_AFTER_MS =
  Number(process.env.PARLEY_BOT_PAUSED_MS) > 0 ? Number(process.env.PARLEY_BOT_PAUSED_MS) : 30_000;
const MAX_CODE_BYTES = 256 * 1024;

export function resolveBotSource(args: { preset?: string; code?: string }): { source: string; secret: boolean } {
  if ((args.preset === undefined) === (args.code === undefined))
    throw new ToolError('Give exactly one of preset or code for the bot.');
  if (args.code !== undefined) {
    if (Buffer.byteLength(args.code) > MAX_CODE_BYTES)
      throw new ToolError(`Bot code is larger than ${MAX_CODE_BYTES / 1024} KB.`);
    // Custom code: treat as secret only if it uses commitments; publishing the seed makes every step verifiable now.
    return { source: args.code, secret: /ctx\.commit\s*\(/.test(args.code) };
  }
  if (!PRESET_NAMES.includes(args.preset!))
    throw new ToolError(`Unknown bot preset "${args.preset}"; presets: ${PRESET_NAMES.join(', ')}.`);
  const preset = loadPreset(args.preset!);
  return { source: preset.source, secret: preset.secret };
}

type BotInfo = NonNullable<ReturnType<Channel['bots']['info']>>;

/** Paused: an input has waited longer than the limit (by its author's clock) without a step answering it. */
function isPaused(info: BotInfo, now = Date.now()): boolean {
  return info.waitingSince !== null && now - Math.max(info.waitingSince, info.lastStepAt ?? 0) > PAUSED_AFTER_MS;
}

function botInfo(c: Channel, slot: string): BotInfo {
  const info = c.bots.info(slot);
  if (!info) throw new ToolError(`There is no bot in slot ${slot}; bots here: ${c.bots.slots().join(', ') || 'none'}.`);
  return info;
}

export function attachBotSupport(node: ParleyNode): BotHooks {
  return {
    attachBot: (args) => attachBot(node, args),
    handOverBot: (args) => handOverBot(node, args),
    getBot: (args) => getBot(node, args),
  };
}

/** attach_bot: only a manager attaches, into an empty `bot:` slot, within the engine's limits. */
function attachBot(node: ParleyNode, args: Parameters<BotHooks['attachBot']>[0]): ReturnType<BotHooks['attachBot']> {
  const c = node.channel(args.channel);
  if (!c.membership.manages(node.me)) throw new ToolError('Only the channel owner or an admin can attach a bot.');
  if (!args.slot.startsWith('bot:')) throw new ToolError('Bot slots look like "bot:<name>".');
  if (c.bots.slots().includes(args.slot)) throw new ToolError(`The slot ${args.slot} already has a bot.`);
  const { source, secret } = resolveBotSource(args);
  let limits;
  try {
    limits = requestLimits(args.limits);
  } catch (err) {
    throw new ToolError((err as Error).message);
  }
  const code_hash = c.attachBot(args.slot, source, args.params ?? {}, secret, limits);
  return { slot: args.slot, code_hash };
}

/** hand_over_bot: the owner hands a bot to any member; a member claims a paused one for itself. */
function handOverBot(
  node: ParleyNode,
  args: Parameters<BotHooks['handOverBot']>[0],
): ReturnType<BotHooks['handOverBot']> {
  const c = node.channel(args.channel);
  const info = botInfo(c, args.slot);
  const { runner, secret, revealed } = info.bot;
  const isOwner = c.membership.owner === node.me;
  const toSlot = args.to ?? c.membership.slotOf(node.me);
  const to = toSlot === 'owner' ? c.membership.owner : toSlot ? c.membership.holder(toSlot)?.author : undefined;
  if (!to) throw new ToolError(`Nobody holds the slot ${String(toSlot)}; a bot can only be handed to a member.`);
  if (to === runner) throw new ToolError(`${toSlot} already runs ${args.slot}.`);
  if (secret && !revealed && runner !== node.me) {
    throw new ToolError(
      `${args.slot} has a secret seed: only its current runner can hand it over (it seals the seed to ` +
        `the new runner).`,
    );
  }
  if (!isOwner) {
    if (to !== node.me)
      throw new ToolError('Only the owner can hand a bot to someone else; you can claim a paused bot for yourself.');
    if (!isPaused(info) && runner !== node.me)
      throw new ToolError(
        `${args.slot} is running; a member can claim it only while it is paused (its runner silent ` +
          `for ${PAUSED_AFTER_MS / 1000} s with inputs waiting).`,
      );
  }
  const fromStep = c.handOverBot(args.slot, to, fromB64u(to, 32)!);
  return { slot: args.slot, runner: to, runner_slot: toSlot!, from_step: fromStep };
}

/** get_bot: the bot's code, runner, engine and verification counts. */
function getBot(node: ParleyNode, args: Parameters<BotHooks['getBot']>[0]): ReturnType<BotHooks['getBot']> {
  const c = node.channel(args.channel);
  const info = botInfo(c, args.slot);
  const stats = c.bots.report().bots.find((b) => b.slot === args.slot)!;
  const runner = info.bot.runner;
  return {
    slot: args.slot,
    code: String(info.attach.source),
    code_hash: String(info.attach.code_hash),
    runner,
    runner_slot: c.membership.slotOf(runner) ?? 'unknown',
    runner_is_neutral: !c.membership.members().some((m) => m.id === runner && m.slot !== 'owner'),
    secret: Boolean(info.attach.manifest?.secret),
    engine: String(info.attach.manifest?.engine ?? ''),
    state: isPaused(info) ? 'paused' : 'running',
    waiting_inputs: info.waiting,
    note: info.attach.manifest?.secret
      ? "The runner can see this bot's hidden state (its commitment stops it from changing it, not from knowing " +
        'it); steps stay pending until the runner reveals its seed.'
      : 'The runner published its seed, so every node verifies every step as it arrives.',
    steps: stats.steps,
    verified: stats.verified,
    pending: stats.pending,
    mismatches: stats.mismatches,
  };
}

/** Verification marks recorded by a node, for read-only views (parley show). */
export function stepVerificationFromStore(store: LocalStore): (stepId: string) => Verification | undefined {
  return (stepId) => store.mark(stepId) as Verification | undefined;
}
