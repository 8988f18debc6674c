/**
 * The bots of one channel, fed with delivered events in delivery order. The same code runs inside a node (which
 * also posts steps when it is the runner) and inside `parley verify` (offline, posting nothing).
 *
 * This class only dispatches; each job has its own module:
 *   bots/payloads.ts  the bot events' payloads (zod schemas, checked here once per event)
 *   bots/queue.ts     delivered events handled one after another, in order
 *   bots/bot.ts       one bot's state and its replayer
 *   bots/inputs.ts    what a bot's inputs are, and the causal check of their order
 *   bots/runner.ts    feeding inputs and posting steps, when this node runs a bot
 *   bots/verifier.ts  checking and replaying every step
 *   bots/handover.ts  `bot.runner` hand-overs of the runner role
 *   bots/reports.ts   problems, verification marks, mismatch claims and summaries
 */
import { sha256Hex } from '../protocol/hash.js';
import { IDLE } from './replayer.js';
import { seedCommitment } from './seed.js';
import { ENGINE_ID } from './sandbox.js';
import { Bot, isFed, type DeliveredInput, type MembershipView, type Seen } from './bot.js';
import { BotInputs } from './inputs.js';
import { TaskQueue } from './queue.js';
import { Runner, type RunnerHooks } from './runner.js';
import { Verifier } from './verifier.js';
import { HandOvers } from './handover.js';
import {
  botInfo,
  checkpoints,
  Reports,
  stepStatus,
  type BotInfo,
  type BotReport,
  type MarkListener,
} from './reports.js';
import {
  AttachPayloadSchema,
  botOf,
  describeIssue,
  HandOverPayloadSchema,
  RevealPayloadSchema,
  StepPayloadSchema,
  type AttachPayload,
} from './payloads.js';

export type { BotReport, BotInfo, MarkListener } from './reports.js';
export type { RunnerHooks } from './runner.js';
export type { DeliveredInput, MembershipView, StepStatus } from './bot.js';
export type { StepPayload, MismatchClaim } from './payloads.js';

export class ChannelBots {
  private readonly bots = new Map<string, Bot>();
  private readonly inputs: BotInputs;
  private readonly reports: Reports;
  private readonly queue: TaskQueue;
  private readonly verifier: Verifier;
  /** This node's part as runner of its bots; absent offline. */
  private readonly asRunner: Runner | undefined;
  private readonly handOvers: HandOvers;
  private attachSeen = false;

  constructor(
    private readonly ch: string,
    private readonly membership: MembershipView,
    private readonly channelName: () => string,
    /** Kept under this name: tests replace a runner's posting hooks to make it lie (tests/e2e/lying-runner.test.ts). */
    private readonly runner?: RunnerHooks,
    onMark?: MarkListener,
  ) {
    this.reports = new Reports(onMark);
    this.inputs = new BotInputs(membership, new Map<string, Seen>());
    this.queue = new TaskQueue((err) => {
      this.reports.problem(`bot processing failed: ${err instanceof Error ? err.message : String(err)}`);
    });
    this.verifier = new Verifier(this.inputs, this.reports, runner?.me);
    this.asRunner = runner && new Runner(runner, this.inputs, this.verifier, this.reports);
    this.handOvers = new HandOvers(membership, this.reports, this.verifier, this.asRunner);
  }

  /**
   * Feeds one delivered event. Work is serialised: call `idle()` to wait for it. While `restoring` (events a node
   * delivered in an earlier run), the runner only replays; `resume()` then feeds whatever it had not fed yet.
   */
  deliver(ev: DeliveredInput, restoring = false): void {
    // Until a bot is attached nothing needs remembering: inputs are only what comes after an attach. Bot events
    // still go through, so an orphan step, reveal or hand-over is reported as before.
    if (ev.body.type === 'bot.attach') this.attachSeen = true;
    if (!this.attachSeen && !ev.body.type.startsWith('bot.')) return;
    const seen: Seen = { ev, fedBy: null };
    this.inputs.events.set(ev.id, seen);
    this.queue.push(() => this.handle(seen, restoring));
  }

  resume(): void {
    const runner = this.asRunner;
    if (!runner) return;
    for (const bot of this.bots.values()) this.queue.push(() => runner.feedWaiting(bot));
  }

  /** Resolves once every event delivered so far has been handled and every step queued for replay judged. */
  idle(): Promise<void> {
    if (!this.queue.running && this.replaying().length === 0) return IDLE;
    // Handling an event can queue replays, and a runner's outcome can deliver new events: wait until neither is left.
    return (async () => {
      for (;;) {
        const running = this.queue.running;
        if (running) await running;
        const replays = this.replaying();
        if (replays.length === 0 && !this.queue.running) return;
        await Promise.all(replays);
      }
    })();
  }

  private replaying(): Promise<void>[] {
    const out: Promise<void>[] = [];
    for (const bot of this.bots.values()) {
      const p = bot.replaysDone();
      if (p !== IDLE) out.push(p);
    }
    return out;
  }

  private handle(seen: Seen, restoring: boolean): void | Promise<void> {
    const b = seen.ev.body;
    switch (b.type) {
      case 'bot.attach':
        return this.attach(seen, restoring);
      case 'bot.step': {
        const bot = this.botNamed('bot.step', b.payload);
        if (!bot) return;
        const p = StepPayloadSchema.safeParse(b.payload);
        if (!p.success) return this.verifier.malformed(bot, seen, describeIssue(p.error));
        return this.verifier.verifyStep(bot, seen, p.data);
      }
      case 'bot.runner': {
        const bot = this.botNamed('bot.runner', b.payload);
        if (!bot) return;
        const p = HandOverPayloadSchema.safeParse(b.payload);
        if (!p.success) return this.reports.problem(`bot.runner for ${bot.slot} refused: ${describeIssue(p.error)}`);
        return this.handOvers.apply(bot, seen.ev, p.data);
      }
      case 'bot.reveal': {
        const p = RevealPayloadSchema.safeParse(b.payload);
        const bot = p.success ? this.bots.get(p.data.bot) : undefined;
        if (!p.success || !bot?.runners.includes(b.author)) {
          return this.reports.problem('bot.reveal by someone other than a runner');
        }
        return this.verifier.reveal(bot, p.data.seed);
      }
      case 'message':
      case 'member.admit':
        return this.input(seen, restoring);
    }
  }

  /** The bot a bot event names; reported when there is none. */
  private botNamed(type: string, payload: unknown): Bot | undefined {
    const slot = botOf(payload);
    const bot = slot === undefined ? undefined : this.bots.get(slot);
    if (!bot) this.reports.problem(`${type} for unknown bot ${String(slot)}`);
    return bot;
  }

  /** A message or an admission: an input of every bot it is eligible for, fed by this node where it runs the bot. */
  private input(seen: Seen, restoring: boolean): void | Promise<void> {
    const mine: Bot[] = [];
    for (const bot of this.bots.values()) {
      if (!this.inputs.eligible(bot, seen.ev)) continue;
      bot.inputs.push(seen);
      if (!restoring && this.asRunner?.runs(bot)) mine.push(bot);
    }
    if (mine.length > 0) return this.feedEach(mine, seen);
  }

  private async feedEach(bots: Bot[], input: Seen): Promise<void> {
    for (const bot of bots) await this.asRunner!.feed(bot, input);
  }

  private async attach(seen: Seen, restoring: boolean): Promise<void> {
    const ev = seen.ev;
    const slot = botOf(ev.body.payload) ?? 'undefined';
    if (this.bots.has(slot)) return this.reports.problem(`second bot.attach for ${slot}`);
    const parsed = AttachPayloadSchema.safeParse(ev.body.payload);
    if (!parsed.success) return this.reports.problem(`bot.attach for ${slot} refused: ${describeIssue(parsed.error)}`);
    const p: AttachPayload = parsed.data;
    if (sha256Hex(p.source) !== p.code_hash) {
      return this.reports.problem(`bot.attach for ${slot}: code hash does not match the source`);
    }
    const owner = this.membership.owner ?? ev.body.author;
    const ownerInfo = { id: owner, name: this.membership.nameOf(owner) };
    const bot = new Bot(slot, ev.id, ev.body.lamport, p, this.ch, this.channelName(), ownerInfo);
    if (bot.seed !== null && seedCommitment(bot.seed) !== p.seed_commitment) {
      bot.broken = 'published seed does not match its commitment';
      this.reports.problem(`bot ${slot}: ${bot.broken}`);
    }
    if (bot.needsEngine !== null) {
      const engine = bot.needsEngine || '(none)';
      this.reports.problem(
        `bot ${slot}: attached under engine ${engine}, this node runs engine ${ENGINE_ID}: ` +
          `its steps are unverifiable here (engine); verify them with a Parley whose engine is ${engine}`,
      );
    }
    this.bots.set(slot, bot);
    if (this.runner && bot.runner === this.runner.me) {
      const seed = this.runner.seedFor(slot, ev.id);
      if (seed) bot.seed = seed;
      bot.inputs.unshift(seen);
      if (!restoring) await this.asRunner!.feed(bot, seen);
    }
  }

  report(): { bots: BotReport[]; problems: string[] } {
    return this.reports.report(this.bots.values());
  }

  status(stepId: string) {
    return stepStatus(this.bots.values(), stepId);
  }

  info(slot: string): BotInfo | undefined {
    const b = this.bots.get(slot);
    return b && botInfo(b, (i) => isFed(i, b));
  }

  /** Per bot: its last step number and claimed state hash (recorded in a new epoch's first event). */
  checkpoints(): Record<string, { steps: number; state_hash: string | null }> {
    return checkpoints(this.bots.values());
  }

  slots(): string[] {
    return [...this.bots.keys()];
  }

  close(): void {
    for (const b of this.bots.values()) b.close();
  }
}
