/**
 * One attached bot as a node keeps it: its attach, runners, recorded steps, eligible inputs, and the replayer that
 * re-runs its steps with the deterministic context of each (members so far, randomness from the seed and the
 * joins so far). Who decides what to feed or how to judge a step is elsewhere (bots/runner.ts, bots/verifier.ts).
 */
import type { Json } from '../protocol/canonical.js';
import type { EventBody } from '../protocol/event.js';
import { IDLE, openReplayer, type Replayer, type StepOutcomeLite } from './replayer.js';
import { entropyStart, mixEntropy, stepRandoms } from './seed.js';
import { ENGINE_ID } from './sandbox.js';
import { AttachMemberSchema, type AttachMember, type AttachPayload, type StepPayload } from './payloads.js';

export type StepStatus = 'verified' | 'pending' | 'mismatch' | 'unverifiable';

/** What the bots need to know of the channel's membership (node/membership.ts provides it). */
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
 * A delivered event as the bots keep it, with the bots that have taken it in: fed it as an input, or accepted
 * it as a step (everything in an accepted step's causal past has been fed). Kept on the event rather than in a set
 * of ids per bot: replay checks it several times per step, and a field is far cheaper than a lookup by id.
 */
export interface Seen {
  readonly ev: DeliveredInput;
  fedBy: Bot | Bot[] | null;
}

export const isFed = (s: Seen, bot: Bot): boolean =>
  s.fedBy === bot || (Array.isArray(s.fedBy) && s.fedBy.includes(bot));

export function markFed(s: Seen, bot: Bot): void {
  const f = s.fedBy;
  if (f === null) s.fedBy = bot;
  else if (Array.isArray(f)) {
    if (!f.includes(bot)) f.push(bot);
  } else if (f !== bot) s.fedBy = [f, bot];
}

/** A `bot.runner` hand-over: steps numbered `fromStep` and later are posted by `runner`. */
export interface HandOver {
  id: string;
  lamport: number;
  runner: string;
  fromStep: number;
}

/** A step as this node recorded it; `payload` is null for a step whose payload failed its schema. */
export interface StepRecord {
  id: string;
  n: number;
  payload: StepPayload | null;
  status: StepStatus;
  reason?: string;
}

export interface StepContext {
  members: Json;
  channel: Json;
  random: string;
}

export class Bot {
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
    readonly payload: AttachPayload,
    readonly ch: string,
    readonly channelName: string,
    private readonly owner: { id: string; name: string },
  ) {
    this.seed = payload.seed ?? null;
    const engine = payload.manifest?.engine ?? '';
    this.needsEngine = engine === ENGINE_ID ? null : engine;
    this.acc = entropyStart(ch);
    this.members = Bot.initialMembers(payload, owner);
  }

  /**
   * Members at attach time, as the attaching owner recorded them in `bot.attach` (so every node starts from the
   * same list whatever order it learnt of earlier joins in); the owner alone for attaches that list none.
   */
  private static initialMembers(payload: AttachPayload, owner: { id: string; name: string }): Json[] {
    const valid: AttachMember[] = [];
    for (const m of payload.members ?? []) {
      const parsed = AttachMemberSchema.safeParse(m);
      if (parsed.success) valid.push(parsed.data);
    }
    return valid.length > 0 ? valid.slice(0, 64) : [{ slot: 'owner', id: owner.id, name: owner.name }];
  }

  /** The current runner: the attach's, or the latest hand-over's. */
  get runner(): string {
    return this.handOvers.at(-1)?.runner ?? this.payload.runner;
  }

  /** Who may post step n. */
  runnerFor(n: number): string {
    let runner = this.payload.runner;
    for (const h of this.handOvers) if (n >= h.fromStep) runner = h.runner;
    return runner;
  }

  /** Everyone who was runner at some point (the attach's and every hand-over's). */
  get runners(): string[] {
    return [this.payload.runner, ...this.handOvers.map((h) => h.runner)];
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
    return this.payload.source;
  }

  /** Deterministic context of step n (before it runs): members so far, entropy mixed from joins so far. */
  contextFor(p: StepPayload): StepContext | null {
    if (p.input.hook === 'onJoin') {
      const arg = p.input.arg as Record<string, Json>;
      this.acc = mixEntropy(this.acc, String(arg.entropy));
      this.members = [...this.members, { slot: arg.slot, id: arg.id, name: arg.name }];
    }
    if (this.seed === null) return null;
    if (this.draws?.seed !== this.seed || this.draws.acc !== this.acc) {
      this.draws = { seed: this.seed, acc: this.acc, at: stepRandoms(this.seed, this.acc) };
    }
    return { members: this.members, channel: this.channel, random: this.draws.at(p.n) };
  }

  /** Queues step `p` on this bot's replayer (which keeps the bot's state); `done` gets the outcome, in order. */
  run(p: StepPayload, ctx: StepContext, done: (outcome: StepOutcomeLite) => void): void {
    this.replayer ??= openReplayer(this.source, this.payload.manifest?.limits ?? {});
    const { members, channel, random } = ctx;
    this.replayer.step({ hook: p.input.hook, arg: p.input.arg, now: p.now, members, channel, random }, done);
    this.replayed++;
  }

  /** Passes over a recorded step that cannot be run (its payload failed its schema). */
  skip(): void {
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
