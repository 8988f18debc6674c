/**
 * The runner's half of the bots: when this node runs a bot, it feeds the bot's inputs in its delivery order, one
 * `bot.step` each, and pins each step's causal past to exactly {input, previous step, latest hand-over} (`deps`),
 * so every verifier can check the order (bots/verifier.ts). The runner judges its own step as it runs it.
 */
import { canonicalString, type Json } from '../protocol/canonical.js';
import { markFed, isFed, type Bot, type Seen, type StepRecord } from './bot.js';
import type { BotInputs } from './inputs.js';
import type { Reports } from './reports.js';
import type { Verifier } from './verifier.js';
import type { StepOutcomeLite } from './replayer.js';
import type { StepPayload } from './payloads.js';

/** What a node needs to act as runner; absent offline. */
export interface RunnerHooks {
  me: string;
  /** The runner's secret seed for a bot it attached (hex), if this node is the runner. */
  seedFor(slot: string, attachId: string): string | undefined;
  /** Posts a step; returns its event id (a test double may return nothing). */
  postStep(payload: StepPayload, deps: string[]): string | void;
  postReveal(slot: string, seed: string): void;
  /** Opens a seed sealed to this node's identity in a `bot.runner` hand-over (hex), or undefined. */
  openSeed(sealed: string): string | undefined;
}

/**
 * A value as a verifier reads it back from a signed event: canonical JSON sorts object keys, and a bot can see key
 * order (Object.keys, JSON.stringify), so the runner hands its bot inputs in exactly that form.
 */
const canonicalCopy = <T>(value: T): T => JSON.parse(canonicalString(value as Json)) as T;

export class Runner {
  constructor(
    readonly hooks: RunnerHooks,
    private readonly inputs: BotInputs,
    private readonly verifier: Verifier,
    private readonly reports: Reports,
  ) {}

  /** Whether this node posts the bot's next steps. */
  runs(bot: Bot): boolean {
    return bot.runner === this.hooks.me && bot.seed !== null && !bot.broken && !bot.needsEngine;
  }

  /** Feeds every eligible input not fed yet (after a restart, or on taking over a bot). */
  async feedWaiting(bot: Bot): Promise<void> {
    for (const input of bot.inputs) await this.feed(bot, input);
  }

  /** Runs one input as the bot's next step and posts it, if this node runs the bot and has not fed it yet. */
  async feed(bot: Bot, input: Seen): Promise<void> {
    if (!this.runs(bot) || isFed(input, bot)) return;
    const ev = input.ev;
    const last = bot.steps.at(-1);
    const payload: StepPayload = {
      bot: bot.slot,
      n: bot.steps.length + 1,
      input: canonicalCopy(this.inputs.inputFor(bot, ev)),
      prevStep: last?.id ?? null,
      outputs: [],
      stateHash: '',
      now: Date.now(),
      gas: 0,
    };
    this.verifier.catchUp(bot);
    const ctx = bot.contextFor(payload)!;
    const outcome = await new Promise<StepOutcomeLite>((done) => bot.run(payload, ctx, done));
    if (outcome.status === 'unverifiable') {
      return this.reports.problem(`bot ${bot.slot}: step ${payload.n} could not run on the runner: ${outcome.reason}`);
    }
    payload.outputs = outcome.outputs as StepPayload['outputs'];
    payload.stateHash = outcome.stateHash;
    payload.gas = outcome.gas;
    if (outcome.status === 'error') payload.error = outcome.error ?? 'error';
    markFed(input, bot);
    const rec: StepRecord = { id: '', n: payload.n, payload, status: 'verified' };
    bot.steps.push(rec);
    // Pinning the hand-over into the causal past makes every verifier know the new runner before its first step.
    const handOver = bot.handOvers.at(-1)?.id;
    const deps = [ev.id, ...(last?.id ? [last.id] : []), ...(handOver ? [handOver] : [])].sort();
    // The id is known at once, so the next step links to this one even before it comes back through the replica.
    // The step itself counts as fed when it comes back through delivery (Verifier.verifyStep), which causal
    // delivery puts before any event that depends on it.
    const id = this.hooks.postStep(payload, deps);
    if (typeof id === 'string') rec.id = id;
    if (outcome.outputs.some((o) => o.kind === 'reveal') && !bot.revealed) this.hooks.postReveal(bot.slot, bot.seed!);
  }
}
