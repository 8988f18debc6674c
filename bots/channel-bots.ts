/**
 * Runner and verifier of a channel's bots, fed with delivered events in delivery order. The same code runs inside a
 * node (which also posts steps when it is the runner) and inside `parley verify` (offline, posting nothing).
 *
 * Inputs. After `bot.attach`, the bot's inputs are the channel's `message` events and effective `member.admit`
 * events (a member joined) whose lamport clock is above the attach's. The runner feeds them in its delivery order, one `bot.step`
 * each, and pins each step's causal past to exactly {input, previous step} (`deps`), so a verifier can check:
 *   - the step is by the runner, numbered n+1, linked to the previous step, and names a delivered input whose
 *     content equals the recorded `arg`;
 *   - no input is fed twice, and every input in the causal past of the step's input was fed before it
 *     (a skipped or reordered input is a mismatch).
 * Replay. Each step is re-run in this node's own QuickJS sandbox (one context per bot, from the first step) and
 * its outputs, state hash and error compared. Per-step randomness needs the runner's seed: a bot whose manifest says
 * `secret` publishes only a commitment, so its steps stay `pending` until `bot.reveal`, then all are replayed.
 */
import { canonicalString, type Json } from '../protocol/canonical.js';
import { sha256Hex } from '../protocol/hash.js';
import { fromB64u, toHex } from '../protocol/bytes.js';
import type { EventBody } from '../protocol/event.js';
import { IDLE, openReplayer, type Replayer, type StepOutcomeLite } from './replayer.js';
import { entropyStart, mixEntropy, seedCommitment, stepRandoms } from './seed.js';
import { jsonEqual } from './json.js';
import { ENGINE_ID } from './sandbox.js';

export type StepStatus = 'verified' | 'pending' | 'mismatch' | 'unverifiable';

export interface MembershipView {
  owner: string | null;
  slotOf(author: string): string | undefined;
  nameOf(author: string): string;
  isEffective(id: string): boolean;
  claim(id: string): { slot: string; author: string; name: string; entropy: string } | undefined;
}

export interface DeliveredInput {
  id: string;
  body: EventBody;
}

/**
 * A delivered event as ChannelBots keeps it, with the bots that have taken it in: fed it as an input, or accepted
 * it as a step (everything in an accepted step's causal past has been fed). Kept on the event rather than in a set
 * of ids per bot: replay checks it several times per step, and a field is far cheaper than a lookup by id.
 */
interface Seen {
  readonly ev: DeliveredInput;
  fedBy: Bot | Bot[] | null;
}

const isFed = (s: Seen, bot: Bot): boolean => s.fedBy === bot || (Array.isArray(s.fedBy) && s.fedBy.includes(bot));

function markFed(s: Seen, bot: Bot): void {
  const f = s.fedBy;
  if (f === null) s.fedBy = bot;
  else if (Array.isArray(f)) {
    if (!f.includes(bot)) f.push(bot);
  } else if (f !== bot) s.fedBy = [f, bot];
}

export interface StepPayload {
  bot: string;
  n: number;
  input: { hook: 'init' | 'onJoin' | 'onMessage'; event: string; arg: Json };
  prevStep: string | null;
  outputs: { kind: string; body: Json; to?: string }[];
  stateHash: string;
  now: number;
  gas: number;
  error?: string;
}

export interface BotReport {
  slot: string;
  steps: number;
  verified: number;
  pending: number;
  mismatches: number;
  unverifiable: number;
  /** The engine the bot was attached under, when this node runs another (its steps are unverifiable here). */
  needsEngine?: string;
}

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

/** A `bot.runner` hand-over: steps numbered `fromStep` and later are posted by `runner`. */
interface HandOver {
  id: string;
  lamport: number;
  runner: string;
  fromStep: number;
}

interface StepRecord {
  id: string;
  payload: StepPayload;
  status: StepStatus;
  reason?: string;
}

class Bot {
  readonly steps: StepRecord[] = [];
  private replayer: Replayer | null = null;
  private replayed = 0;
  private acc: string;
  private members: Json[] = [];
  /** stepRandoms for the current seed and accumulator, remade when either changes. */
  private draws: { seed: string; acc: string; at: (n: number) => string } | null = null;
  seed: string | null;
  revealed = false;
  broken: string | null = null;
  /** The engine id the bot was attached under, when this node's differs: its steps cannot be replayed here. */
  readonly needsEngine: string | null;
  /** Eligible inputs in this node's delivery order (what the runner feeds, and resumes after a restart). */
  readonly inputs: Seen[] = [];
  readonly handOvers: HandOver[] = [];
  private channelCtx: Json | null = null;

  constructor(
    readonly slot: string,
    readonly attachId: string,
    readonly attachLamport: number,
    readonly payload: Record<string, any>,
    readonly ch: string,
    readonly channelName: string,
    private readonly owner: { id: string; name: string },
  ) {
    this.seed = typeof payload.seed === 'string' ? payload.seed : null;
    const engine = String(payload.manifest?.engine ?? '');
    this.needsEngine = engine === ENGINE_ID ? null : engine;
    this.acc = entropyStart(ch);
    this.members = Bot.initialMembers(payload, owner);
  }

  /**
   * Members at attach time, as the attaching owner recorded them in `bot.attach` (so every node starts from the
   * same list whatever order it learnt of earlier joins in); the owner alone for attaches that list none.
   */
  private static initialMembers(payload: Record<string, any>, owner: { id: string; name: string }): Json[] {
    const listed = Array.isArray(payload.members) ? payload.members : [];
    const valid = listed
      .filter((m: any) => m && typeof m.slot === 'string' && typeof m.id === 'string' && typeof m.name === 'string')
      .map((m: any) => ({ slot: m.slot, id: m.id, name: m.name }));
    return valid.length > 0 ? valid.slice(0, 64) : [{ slot: 'owner', id: owner.id, name: owner.name }];
  }

  /** The current runner: the attach's, or the latest hand-over's. */
  get runner(): string {
    return this.handOvers.at(-1)?.runner ?? String(this.payload.runner);
  }

  /** Who may post step n. */
  runnerFor(n: number): string {
    let runner = String(this.payload.runner);
    for (const h of this.handOvers) if (n >= h.fromStep) runner = h.runner;
    return runner;
  }

  /** ctx.channel: one value for the bot's life, so the sandbox sends it to the guest once. */
  get channel(): Json {
    this.channelCtx ??= { id: this.ch, name: this.channelName };
    return this.channelCtx;
  }

  get secret(): boolean {
    return this.payload.manifest?.secret === true || typeof this.payload.seed !== 'string';
  }

  get source(): string {
    return String(this.payload.source);
  }

  /** Deterministic context of step n (before it runs): members so far, entropy mixed from joins so far. */
  contextFor(p: StepPayload): { members: Json; channel: Json; random: string } | null {
    if (p.input.hook === 'onJoin') {
      const arg = p.input.arg as Record<string, Json>;
      this.acc = mixEntropy(this.acc, String(arg.entropy));
      this.members = [...this.members, { slot: arg.slot, id: arg.id, name: arg.name }];
    }
    if (this.seed === null) return null;
    if (this.draws?.seed !== this.seed || this.draws.acc !== this.acc) this.draws = { seed: this.seed, acc: this.acc, at: stepRandoms(this.seed, this.acc) };
    return { members: this.members, channel: this.channel, random: this.draws.at(p.n) };
  }

  /** Queues step `p` on this bot's replayer (which keeps the bot's state); `done` gets the outcome, in order. */
  run(p: StepPayload, ctx: { members: Json; channel: Json; random: string }, done: (outcome: StepOutcomeLite) => void): void {
    this.replayer ??= openReplayer(this.source, this.payload.manifest?.limits ?? {});
    this.replayer.step({ hook: p.input.hook, arg: p.input.arg, now: p.now, members: ctx.members, channel: ctx.channel, random: ctx.random }, done);
    this.replayed++;
  }

  /** Resolves once every queued step's outcome has been handed over. */
  replaysDone(): Promise<void> {
    return this.replayer ? this.replayer.idle() : IDLE;
  }

  get replayedCount(): number {
    return this.replayed;
  }

  resetReplay(): void {
    this.replayer?.close();
    this.replayer = null;
    this.replayed = 0;
    this.acc = entropyStart(this.ch);
    this.members = Bot.initialMembers(this.payload, this.owner);
  }

  close(): void {
    this.replayer?.close();
    this.replayer = null;
  }
}

/**
 * A value as a verifier reads it back from a signed event: canonical JSON sorts object keys, and a bot can see key
 * order (Object.keys, JSON.stringify), so the runner hands its bot inputs in exactly that form.
 */
const canonicalCopy = <T>(value: T): T => JSON.parse(canonicalString(value as Json)) as T;

export class ChannelBots {
  private readonly bots = new Map<string, Bot>();
  private readonly events = new Map<string, Seen>();
  private readonly problems: string[] = [];
  /** Delivered events waiting to be handled, in order; drained by `drain` (see `enqueue`). */
  private readonly queue: (() => void | Promise<void>)[] = [];
  private draining: Promise<void> | null = null;
  private attachSeen = false;

  constructor(
    private readonly ch: string,
    private readonly membership: MembershipView,
    private readonly channelName: () => string,
    private readonly runner?: RunnerHooks,
    private readonly onMark?: (stepId: string, status: StepStatus, claim?: { bot: string; n: number; reason: string; runner: string }) => void,
  ) {}

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
    this.events.set(ev.id, seen);
    this.enqueue(() => this.handle(seen, restoring));
  }

  resume(): void {
    for (const bot of this.bots.values()) this.enqueue(() => this.feedWaiting(bot));
  }

  /** As runner: feeds every eligible input not fed yet (after a restart, or on taking over a bot). */
  private async feedWaiting(bot: Bot): Promise<void> {
    for (const input of bot.inputs) await this.runnerFeed(bot, input);
  }

  /**
   * Work is handled in delivery order, after the delivering call returns. Most events are handled synchronously
   * (a per-event promise hop costs as much as a replayed step); only loading a sandbox or posting waits.
   */
  private enqueue(task: () => void | Promise<void>): void {
    this.queue.push(task);
    if (!this.draining) this.draining = this.drain();
  }

  private async drain(): Promise<void> {
    await null;
    // The queue grows while it drains (a runner's own steps are delivered back): the loop reads its live length.
    for (let i = 0; i < this.queue.length; i++) {
      try {
        const pending = this.queue[i]();
        if (pending) await pending;
      } catch (err) {
        this.problems.push(`bot processing failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.queue.length = 0;
    this.draining = null;
  }

  /** Resolves once every event delivered so far has been handled and every step queued for replay judged. */
  idle(): Promise<void> {
    if (!this.draining && this.replaying().length === 0) return IDLE;
    // Handling an event can queue replays, and a runner's outcome can deliver new events: wait until neither is left.
    return (async () => {
      for (;;) {
        if (this.draining) await this.draining;
        const replays = this.replaying();
        if (replays.length === 0 && !this.draining) return;
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
    const ev = seen.ev;
    const b = ev.body;
    const p = b.payload as Record<string, any>;
    switch (b.type) {
      case 'bot.attach':
        return this.attach(seen, restoring);
      case 'bot.step': {
        const bot = this.bots.get(String(p.bot));
        if (!bot) return void this.problems.push(`bot.step for unknown bot ${String(p.bot)}`);
        return this.verifyStep(bot, seen);
      }
      case 'bot.runner': {
        const bot = this.bots.get(String(p.bot));
        if (!bot) return void this.problems.push(`bot.runner for unknown bot ${String(p.bot)}`);
        return this.handOver(bot, ev);
      }
      case 'bot.reveal': {
        const bot = this.bots.get(String(p.bot));
        const runners = bot ? [String(bot.payload.runner), ...bot.handOvers.map((h) => h.runner)] : [];
        if (!bot || !runners.includes(b.author)) return void this.problems.push('bot.reveal by someone other than a runner');
        return this.reveal(bot, String(p.seed));
      }
      case 'message':
      case 'member.admit': {
        const mine: Bot[] = [];
        for (const bot of this.bots.values()) {
          if (!this.eligible(bot, ev)) continue;
          bot.inputs.push(seen);
          if (!restoring && this.runs(bot)) mine.push(bot);
        }
        if (mine.length > 0) return this.feedEach(mine, seen);
        return;
      }
    }
  }

  private async feedEach(bots: Bot[], input: Seen): Promise<void> {
    for (const bot of bots) await this.runnerFeed(bot, input);
  }

  /** Whether this node posts the bot's next steps. */
  private runs(bot: Bot): boolean {
    return !!this.runner && bot.runner === this.runner.me && bot.seed !== null && !bot.broken && !bot.needsEngine;
  }

  private async attach(seen: Seen, restoring: boolean): Promise<void> {
    const ev = seen.ev;
    const p = ev.body.payload as Record<string, any>;
    const slot = String(p.bot);
    if (this.bots.has(slot)) return void this.problems.push(`second bot.attach for ${slot}`);
    if (typeof p.source !== 'string' || sha256Hex(p.source) !== p.code_hash) return void this.problems.push(`bot.attach for ${slot}: code hash does not match the source`);
    const owner = this.membership.owner ?? ev.body.author;
    const bot = new Bot(slot, ev.id, ev.body.lamport, p, this.ch, this.channelName(), { id: owner, name: this.membership.nameOf(owner) });
    if (bot.seed !== null && seedCommitment(bot.seed) !== p.seed_commitment) {
      bot.broken = 'published seed does not match its commitment';
      this.problems.push(`bot ${slot}: ${bot.broken}`);
    }
    if (bot.needsEngine !== null) {
      this.problems.push(
        `bot ${slot}: attached under engine ${bot.needsEngine || '(none)'}, this node runs engine ${ENGINE_ID}: its steps are unverifiable here (engine); verify them with a Parley whose engine is ${bot.needsEngine || '(none)'}`,
      );
    }
    this.bots.set(slot, bot);
    if (this.runner && bot.runner === this.runner.me) {
      const seed = this.runner.seedFor(slot, ev.id);
      if (seed) bot.seed = seed;
      bot.inputs.unshift(seen);
      if (!restoring) await this.runnerFeed(bot, seen);
    }
  }

  private eligible(bot: Bot, ev: DeliveredInput): boolean {
    const b = ev.body;
    if (b.lamport <= bot.attachLamport) return false;
    if (b.type === 'message') return true;
    return b.type === 'member.admit' && this.membership.isEffective(ev.id) && this.membership.claim(String(b.payload.claim)) !== undefined;
  }

  /** The recorded form of an input, derived identically by runner and verifiers. */
  private inputFor(bot: Bot, ev: DeliveredInput): StepPayload['input'] {
    const b = ev.body;
    const p = b.payload as Record<string, any>;
    if (b.type === 'bot.attach') return { hook: 'init', event: ev.id, arg: (p.params ?? {}) as Json };
    if (b.type === 'member.admit') {
      const c = this.membership.claim(String(p.claim))!;
      return { hook: 'onJoin', event: ev.id, arg: { slot: c.slot, id: c.author, name: c.name, entropy: toHex(fromB64u(c.entropy, 32)!) } };
    }
    const arg: Record<string, Json> = { id: ev.id, from: this.membership.slotOf(b.author) ?? 'unknown', name: this.membership.nameOf(b.author), author: b.author, kind: p.kind, body: p.body, ts: b.ts };
    if (typeof p.to === 'string') arg.to = p.to;
    return { hook: 'onMessage', event: ev.id, arg };
  }

  private async runnerFeed(bot: Bot, input: Seen): Promise<void> {
    if (!this.runs(bot) || isFed(input, bot)) return;
    const ev = input.ev;
    const last = bot.steps.at(-1);
    const payload: StepPayload = {
      bot: bot.slot, n: bot.steps.length + 1, input: canonicalCopy(this.inputFor(bot, ev)), prevStep: last?.id ?? null, outputs: [], stateHash: '', now: Date.now(), gas: 0,
    };
    this.catchUp(bot);
    const ctx = bot.contextFor(payload)!;
    const outcome = await new Promise<StepOutcomeLite>((done) => bot.run(payload, ctx, done));
    if (outcome.status === 'unverifiable') return void this.problems.push(`bot ${bot.slot}: step ${payload.n} could not run on the runner: ${outcome.reason}`);
    payload.outputs = outcome.outputs as StepPayload['outputs'];
    payload.stateHash = outcome.stateHash;
    payload.gas = outcome.gas;
    if (outcome.status === 'error') payload.error = outcome.error ?? 'error';
    markFed(input, bot);
    const rec: StepRecord = { id: '', payload, status: 'verified' };
    bot.steps.push(rec);
    // Pinning the hand-over into the causal past makes every verifier know the new runner before its first step.
    const handOver = bot.handOvers.at(-1)?.id;
    // The id is known at once, so the next step links to this one even before it comes back through the replica.
    const id = this.runner!.postStep(payload, [ev.id, ...(last?.id ? [last.id] : []), ...(handOver ? [handOver] : [])].sort());
    // The step itself counts as fed when it comes back through delivery (verifyStep), which causal delivery puts
    // before any event that depends on it.
    if (typeof id === 'string') rec.id = id;
    if (outcome.outputs.some((o) => o.kind === 'reveal') && !bot.revealed) this.runner!.postReveal(bot.slot, bot.seed!);
  }

  /**
   * Queues for replay the steps this node has recorded but not yet run; each is judged when its outcome comes back
   * (at once inline, a little later from the replay thread).
   */
  private catchUp(bot: Bot): void {
    while (bot.replayedCount < bot.steps.length && bot.seed !== null && bot.needsEngine === null) {
      const rec = bot.steps[bot.replayedCount];
      const ctx = bot.contextFor(rec.payload)!;
      bot.run(rec.payload, ctx, (outcome) => {
        // Called from the replay thread's message handler: a failure here must not escape into it.
        try {
          this.judge(bot, rec, outcome);
        } catch (err) {
          this.problems.push(`bot processing failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      });
    }
  }

  private judge(bot: Bot, rec: StepRecord, outcome: StepOutcomeLite): void {
    if (rec.status === 'mismatch') return;
    let status: StepStatus = 'verified';
    let reason: string | undefined;
    if (outcome.status === 'unverifiable') status = 'unverifiable';
    else if (!jsonEqual(outcome.outputs, rec.payload.outputs)) [status, reason] = ['mismatch', 'outputs differ from the replay'];
    else if (outcome.stateHash !== rec.payload.stateHash) [status, reason] = ['mismatch', 'state hash differs from the replay'];
    else if ((outcome.status === 'error') !== (rec.payload.error !== undefined)) [status, reason] = ['mismatch', 'error outcome differs from the replay'];
    this.mark(bot, rec, status, reason);
  }

  private mark(bot: Bot, rec: StepRecord, status: StepStatus, reason?: string): void {
    rec.status = status;
    rec.reason = reason;
    if (status === 'mismatch') this.problems.push(`bot ${bot.slot} step ${rec.payload.n}: ${reason}`);
    if (rec.id) this.onMark?.(rec.id, status, status === 'mismatch' ? { bot: bot.slot, n: rec.payload.n, reason: reason ?? 'mismatch', runner: bot.runner } : undefined);
  }

  private verifyStep(bot: Bot, seen: Seen): void | Promise<void> {
    const ev = seen.ev;
    const p = ev.body.payload as unknown as StepPayload;
    const mine = this.runner && bot.runnerFor(p.n) === this.runner.me;
    if (mine) {
      const at = bot.steps[p.n - 1];
      const rec = at && (at.id === ev.id || !at.id) ? at : undefined;
      if (rec) {
        rec.id = ev.id;
        markFed(seen, bot);
        this.onMark?.(ev.id, rec.status);
        return;
      }
    }
    const rec: StepRecord = { id: ev.id, payload: p, status: 'pending' };
    const last = bot.steps.at(-1);
    bot.steps.push(rec);
    const fail = (reason: string) => this.mark(bot, rec, 'mismatch', reason);
    if (ev.body.author !== bot.runnerFor(p.n)) return fail('step posted by someone other than the runner');
    if (bot.broken) return fail(bot.broken);
    if (p.n !== bot.steps.length || p.prevStep !== (last?.id ?? null)) return fail('step is out of sequence');
    if (!Number.isSafeInteger(p.now)) return fail('step time is not an integer timestamp');
    const input = this.events.get(p.input?.event);
    if (!input) return fail('step names an input this node never saw');
    const inputEv = input.ev;
    const isInit = inputEv.body.type === 'bot.attach';
    if (isInit ? p.n !== 1 || p.input.event !== bot.attachId : !this.eligible(bot, inputEv)) return fail('step input is not an input of this bot');
    if (isFed(input, bot)) return fail('input fed twice');
    if (!jsonEqual(this.inputFor(bot, inputEv), p.input)) return fail('recorded input does not match the event');
    const skipped = isInit ? undefined : this.unfedAncestor(bot, inputEv);
    if (skipped) return fail(`input ${skipped.slice(0, 8)} was skipped or reordered`);
    markFed(input, bot);
    // Everything in this step's causal past is now known to be fed: later walks stop here (keeps them short).
    markFed(seen, bot);
    // Another engine may stop a step elsewhere (gas, memory): replaying here proves nothing either way.
    if (bot.needsEngine !== null) return this.mark(bot, rec, 'unverifiable', `engine: attached under ${bot.needsEngine}, this node runs ${ENGINE_ID}`);
    if (bot.seed === null) {
      bot.contextFor(p);
      this.onMark?.(ev.id, 'pending');
      return;
    }
    this.catchUp(bot);
  }

  /** An input in the causal past of `ev` (after the attach) that the runner has not fed yet, if any. */
  private unfedAncestor(bot: Bot, ev: DeliveredInput): string | undefined {
    // Usual case, and the walk's end: every direct parent already settled.
    const { deps, prev } = ev.body;
    let settled = prev === null || this.settled(bot, prev);
    for (let i = 0; settled && i < deps.length; i++) settled = this.settled(bot, deps[i]);
    if (settled) return undefined;
    const stack = [...deps, ...(prev ? [prev] : [])];
    const visited = new Set<string>();
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (visited.has(id) || this.settled(bot, id)) continue;
      visited.add(id);
      const e = this.events.get(id)!.ev;
      if (this.eligible(bot, e)) return id;
      stack.push(...e.body.deps, ...(e.body.prev ? [e.body.prev] : []));
    }
    return undefined;
  }

  /** Whether nothing unfed can lie behind this event: fed, from before the attach, or never handed to ChannelBots. */
  private settled(bot: Bot, id: string): boolean {
    const s = this.events.get(id);
    return s === undefined || isFed(s, bot) || s.ev.body.lamport <= bot.attachLamport;
  }

  /**
   * A hand-over of the runner role (DESIGN.md "Runner liveness"). The owner may hand any bot to any member; for a
   * bot without a secret seed any member may also claim it for itself. A secret bot can only be handed over by its
   * current runner, who seals the seed to the new runner. The hand-over applies from the next step this node has
   * not seen; it is meant for a runner that went silent (a step the old runner posts concurrently makes the two
   * views diverge, and is reported).
   */
  private async handOver(bot: Bot, ev: DeliveredInput): Promise<void> {
    const b = ev.body;
    const p = b.payload as Record<string, unknown>;
    const to = String(p.runner);
    const refuse = (why: string) => void this.problems.push(`bot.runner for ${bot.slot} refused: ${why}`);
    if (this.membership.slotOf(to) === undefined && to !== this.membership.owner) return refuse('the new runner is not a member');
    const byOwner = b.author === this.membership.owner;
    if (bot.secret && !bot.revealed && b.author !== bot.runner) return refuse('only the current runner can hand over a bot with a secret seed');
    if (!bot.secret && !byOwner && b.author !== to) return refuse('a member can only claim the runner role for itself');
    if (p.from_step !== bot.steps.length + 1) return refuse(`it starts at step ${String(p.from_step)}, but the bot is at step ${bot.steps.length + 1}`);
    // Concurrent claims for one step: the first in (lamport, id) order wins, whatever order they arrive in.
    const rival = bot.handOvers.find((h) => h.fromStep === p.from_step);
    if (rival) {
      if (rival.lamport < b.lamport || (rival.lamport === b.lamport && rival.id < ev.id)) return refuse('another hand-over for the same step came first');
      bot.handOvers.splice(bot.handOvers.indexOf(rival), 1);
    }
    bot.handOvers.push({ id: ev.id, lamport: b.lamport, runner: to, fromStep: Number(p.from_step) });
    if (!this.runner || to !== this.runner.me) return;
    if (bot.seed === null && typeof p.seed_sealed === 'string') {
      const seed = this.runner.openSeed(p.seed_sealed);
      if (seed && seedCommitment(seed) === bot.payload.seed_commitment) {
        // As on a reveal: the pending steps were only tracked, now they are replayed from the start.
        bot.seed = seed;
        bot.resetReplay();
      }
    }
    if (bot.seed === null) return refuse('the sealed seed does not open for this node or does not match the commitment');
    this.catchUp(bot);
    await this.feedWaiting(bot);
  }

  private async reveal(bot: Bot, seed: string): Promise<void> {
    if (bot.revealed) return;
    bot.revealed = true;
    if (seedCommitment(seed) !== bot.payload.seed_commitment) {
      for (const rec of bot.steps) if (rec.status === 'pending') this.mark(bot, rec, 'mismatch', 'revealed seed does not match its commitment');
      return;
    }
    if (this.runner && bot.runner === this.runner.me) return;
    bot.seed = seed;
    bot.resetReplay();
    this.catchUp(bot);
  }

  report(): { bots: BotReport[]; problems: string[] } {
    const bots = [...this.bots.values()].map((b) => ({
      slot: b.slot,
      steps: b.steps.length,
      verified: b.steps.filter((s) => s.status === 'verified').length,
      pending: b.steps.filter((s) => s.status === 'pending').length,
      mismatches: b.steps.filter((s) => s.status === 'mismatch').length,
      unverifiable: b.steps.filter((s) => s.status === 'unverifiable').length,
      ...(b.needsEngine !== null ? { needsEngine: b.needsEngine } : {}),
    }));
    return { bots, problems: [...this.problems] };
  }

  status(stepId: string): StepStatus | undefined {
    for (const b of this.bots.values()) for (const s of b.steps) if (s.id === stepId) return s.status;
    return undefined;
  }

  info(slot: string) {
    const b = this.bots.get(slot);
    if (!b) return undefined;
    const unfed = b.inputs.filter((i) => !isFed(i, b));
    const waitingSince = unfed.length > 0 ? Math.min(...unfed.map((i) => i.ev.body.ts)) : null;
    return { bot: b, attach: b.payload, lastStepAt: b.steps.at(-1)?.payload.now ?? null, waiting: unfed.length, waitingSince };
  }

  /** Per bot: its last step number and claimed state hash (recorded in a new epoch's first event). */
  checkpoints(): Record<string, { steps: number; state_hash: string | null }> {
    const out: Record<string, { steps: number; state_hash: string | null }> = {};
    for (const b of this.bots.values()) out[b.slot] = { steps: b.steps.length, state_hash: b.steps.at(-1)?.payload.stateHash ?? null };
    return out;
  }

  slots(): string[] {
    return [...this.bots.keys()];
  }

  close(): void {
    for (const b of this.bots.values()) b.close();
  }
}
