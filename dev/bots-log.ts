/**
 * Builds realistic channel histories in-process for the bots and verify benchmarks: real Ed25519-signed, sealed
 * events (ids are BLAKE2b of the sealed bytes, exactly as node/channel/authoring.ts `post` makes them), a real
 * channel.create with invite slots, real slot-signed member.join claims, a real bot.attach, and bot.step events
 * produced by the product's own runner (bots/channel-bots.ts with RunnerHooks, as node/channel/bot-wiring.ts wires
 * it). Going through MCP nodes and a relay would give the same bytes but take minutes for 10,000 events; this takes
 * seconds.
 */
import { mulberry32 as prng } from './random.js';
import { nextLamport, signEvent, sealEvent, MAX_DEPS, type EventBody, type EventType } from '../protocol/event.js';
import { memberId, newChannelId, newEpochKey, newIdentity, randomBytes, type KeyPair } from '../protocol/keys.js';
import { canonicalString, type Json } from '../protocol/canonical.js';
import { toB64u, toHex } from '../protocol/bytes.js';
import { sha256Hex } from '../protocol/hash.js';
import { signSlotClaim } from '../node/payloads.js';
import { Membership } from '../node/membership.js';
import { ChannelBots, type StepPayload } from '../bots/channel-bots.js';
import { seedCommitment } from '../bots/seed.js';
import { DEFAULT_LIMITS, ENGINE_ID } from '../bots/sandbox.js';
import { loadPreset } from '../bots/presets.js';
import type { Transcript } from '../node/transcript.js';

export interface LoggedEvent {
  id: string;
  /** Canonical JSON text of the body, the bytes that were signed. */
  bodyText: string;
  sig: Uint8Array;
  body: EventBody;
}

/** The event-building half of node/channel/authoring.ts `post`: same deps/lamport/seq/prev rules, sign and seal. */
export class SimChannel {
  readonly ch: string;
  /** Proves the channel id with the owner's key (channel.create carries it). */
  readonly salt: string;
  readonly key = newEpochKey();
  readonly events: LoggedEvent[] = [];
  private readonly heads = new Set<string>();
  private readonly lamports = new Map<string, number>();
  private readonly authorHeads = new Map<string, { id: string; seq: number }>();
  private ts = 1_750_000_000_000;
  /** Id of the newest event that is not a bot.step. */
  lastNonStep: string | null = null;

  constructor(owner: KeyPair) {
    ({ ch: this.ch, salt: this.salt } = newChannelId(memberId(owner.publicKey)));
  }

  post(who: KeyPair, type: EventType, payload: Record<string, unknown>, pinnedDeps?: string[]): LoggedEvent {
    const author = memberId(who.publicKey);
    const head = this.authorHeads.get(author);
    const deps = (pinnedDeps ?? this.currentHeads()).filter((d) => d !== head?.id).sort();
    const lamport = nextLamport(deps, head?.id ?? null, (d) => this.lamports.get(d));
    // Timestamps advance 1.5 s per event: realistic spacing, and deterministic.
    this.ts += 1500;
    const body: EventBody = {
      v: 1,
      ch: this.ch,
      ep: 0,
      type,
      author,
      seq: (head?.seq ?? 0) + 1,
      prev: head?.id ?? null,
      deps,
      lamport,
      ts: this.ts,
      payload,
    };
    const signed = signEvent(body, who.secretKey);
    const { id } = sealEvent(signed, { ch: this.ch, ep: 0, key: this.key });
    const bodyText = canonicalString(body);
    const ev: LoggedEvent = { id, bodyText, sig: signed.subarray(signed.length - 64), body };
    this.authorHeads.set(author, { id, seq: body.seq });
    this.lamports.set(id, lamport);
    for (const d of deps) this.heads.delete(d);
    if (body.prev) this.heads.delete(body.prev);
    this.heads.add(id);
    this.events.push(ev);
    if (type !== 'bot.step') this.lastNonStep = id;
    return ev;
  }

  /** node/ingest.ts `currentHeads`: newest first, at most MAX_DEPS. */
  private currentHeads(): string[] {
    return [...this.heads]
      .sort((a, b) => (this.lamports.get(b) ?? 0) - (this.lamports.get(a) ?? 0) || (a < b ? -1 : 1))
      .slice(0, MAX_DEPS);
  }
}

/** One event by a player: a message (a bot input) unless `status` is given (a member.status, not an input). */
export interface Move {
  /** Index into the players (0 = invite:a, 1 = invite:b). */
  player: number;
  kind?: string;
  body?: string;
  to?: string;
  status?: 'working' | 'waiting' | 'blocked' | 'complete';
  /** Posted without having seen the bot's replies: bot.step heads are left out of its deps. */
  blind?: boolean;
}

/** Chooses the next input from the outputs of the previous step; null ends the log. */
export type MovePicker = (i: number, lastOutputs: StepPayload['outputs']) => Move[] | null;

export interface BotLog {
  ch: string;
  name: string;
  preset: string;
  events: LoggedEvent[];
  /** Number of message inputs fed to the bot (bot.step events = inputs + 1 for init). */
  inputs: number;
  steps: number;
  /** The recorded onMessage args, in step order, for the raw QuickJS baseline. */
  messageArgs: Json[];
  /** Every bot.step payload the runner posted, in order. */
  stepPayloads: StepPayload[];
  source: string;
  /** The runner's seed (published in the attach, as for every bot without hidden information). */
  seed: string;
  owner: string;
}

/**
 * A channel with an owner (who attaches the bot and is its runner) and two players, then `pick` decides the
 * messages. Each batch of messages is posted, delivered to the runner, and the runner's steps are posted back
 * before the next batch (batches of one: a player reads the bot's reply before moving).
 */
// Long: one game played batch by batch in protocol order; its steps share the whole log state.
export async function buildBotLog(preset: string, pick: MovePicker, opts: { name?: string } = {}): Promise<BotLog> {
  const name = opts.name ?? `bench-${preset}`;
  const owner = newIdentity();
  const sim = new SimChannel(owner);
  const players = [newIdentity(), newIdentity()];
  const slotSeeds = [randomBytes(32), randomBytes(32)];
  const slots = ['invite:a', 'invite:b'];
  const membership = new Membership(sim.ch);
  const seed = toHex(randomBytes(32));
  const slot = `bot:${preset}`;
  let lastOutputs: StepPayload['outputs'] = [];
  let steps = 0;
  const messageArgs: Json[] = [];
  const stepPayloads: StepPayload[] = [];
  const runner: ChannelBots = new ChannelBots(sim.ch, membership, () => membership.name || name, {
    me: memberId(owner.publicKey),
    seedFor: () => seed,
    postStep: (payload, deps) => {
      const ev = sim.post(owner, 'bot.step', payload as unknown as Record<string, unknown>, deps);
      lastOutputs = payload.outputs;
      steps++;
      stepPayloads.push(payload);
      if (payload.input.hook === 'onMessage') messageArgs.push(payload.input.arg);
      deliver(ev);
      return ev.id;
    },
    postReveal: (s, sd) => deliver(sim.post(owner, 'bot.reveal', { bot: s, seed: sd })),
    openSeed: () => undefined,
  });
  // node/channel.ts `delivered`: membership first, then the bots.
  const deliver = (ev: LoggedEvent) => {
    const b = ev.body;
    membership.apply(ev.id, b);
    runner.deliver({ id: ev.id, body: b });
  };

  deliver(
    sim.post(owner, 'channel.create', {
      name,
      slots: slots.map((s, i) => ({ slot: s, pubkey: toB64u(newIdentity(slotSeeds[i]).publicKey) })),
      relays: ['ws://127.0.0.1:1'],
      expires_at: null,
      owner_name: 'owner',
      salt: sim.salt,
    }),
  );
  // Each player claims its slot and the owner's node admits the claim (node/channel/authority.ts `admit`).
  players.forEach((p, i) => {
    const claim = sim.post(p, 'member.join', {
      slot: slots[i],
      name: ['alice', 'bob'][i],
      slot_sig: toB64u(signSlotClaim(sim.ch, slots[i], memberId(p.publicKey), newIdentity(slotSeeds[i]).secretKey)),
      entropy: toB64u(randomBytes(32)),
    });
    deliver(claim);
    deliver(sim.post(owner, 'member.admit', { slot: slots[i], member: memberId(p.publicKey), claim: claim.id }));
  });
  const { source, secret } = loadPreset(preset);
  // node/channel/bot-wiring.ts `attachBot`: a bot without hidden information publishes its seed so steps verify on
  // arrival.
  deliver(
    sim.post(owner, 'bot.attach', {
      bot: slot,
      source,
      code_hash: sha256Hex(source),
      params: {},
      runner: memberId(owner.publicKey),
      seed_commitment: seedCommitment(seed),
      manifest: { engine: ENGINE_ID, limits: DEFAULT_LIMITS, secret, hooks: ['init', 'onJoin', 'onMessage'] },
      ...(secret ? {} : { seed }),
    }),
  );
  await settle(runner);
  let inputs = 0;
  for (let i = 0; ; i++) {
    const batch = pick(i, lastOutputs);
    if (!batch) break;
    for (const m of batch) {
      if (m.status) {
        deliver(sim.post(players[m.player], 'member.status', { status: m.status }));
        continue;
      }
      // A blind player has seen everything but the bot's steps: its deps are the newest other event.
      const deps = m.blind ? [sim.lastNonStep!] : undefined;
      deliver(
        sim.post(
          players[m.player],
          'message',
          { kind: m.kind ?? 'chat', body: m.body ?? '', ...(m.to ? { to: m.to } : {}) },
          deps,
        ),
      );
      inputs++;
    }
    await settle(runner);
  }
  await settle(runner);
  const report = runner.report();
  runner.close();
  if (report.problems.length > 0)
    throw new Error(`building the ${preset} log: ${report.problems.slice(0, 3).join('; ')}`);
  if (steps !== inputs + 1) throw new Error(`building the ${preset} log: ${inputs} inputs but ${steps} steps`);
  return {
    ch: sim.ch,
    name,
    preset,
    events: sim.events,
    inputs,
    steps,
    messageArgs,
    stepPayloads,
    source,
    seed,
    owner: memberId(owner.publicKey),
  };
}

/** Waits until the bots' work queue stops growing (a runner's own steps are queued while it runs). */
export async function settle(bots: ChannelBots): Promise<void> {
  for (let p = bots.idle(); ; ) {
    await p;
    const next = bots.idle();
    if (next === p) return;
    p = next;
  }
}

const DICE = ['2d6', '1d20', '3d6', 'd6', '4d8', '1d100'];

/**
 * `moves` dice rolls, alternating players, a mix of roll shapes. Paced: each roll depends on the bot's previous
 * step (the player read the result first, the usual DAG). Blind: each roll depends only on the previous roll.
 */
export function dicePicker(moves: number, paced = true): MovePicker {
  return (i) => (i < moves ? [{ player: i % 2, kind: 'roll', body: DICE[i % DICE.length], blind: !paced }] : null);
}

/**
 * `moves` legal tic-tac-toe inputs: the mover is the bot's announced `next` (a random free cell), and after a
 * result the next player posts kind "new". Throws if the bot ever answers "illegal" (the generator is wrong).
 */
export function tictactoePicker(moves: number, seed = 7): MovePicker {
  const rnd = prng(seed);
  const slots = ['invite:a', 'invite:b'];
  let board = '.........';
  let mover = 0;
  return (i, outs) => {
    if (outs.some((o) => o.kind === 'illegal'))
      throw new Error(`tictactoe generator made an illegal move: ${JSON.stringify(outs)}`);
    if (i >= moves) return null;
    const b = outs.find((o) => o.kind === 'board')?.body as { board: string; next: string | null } | undefined;
    if (b) {
      board = b.board;
      if (b.next === 'anyone') mover = 1 - mover;
      else if (b.next !== null) mover = slots.indexOf(b.next);
    }
    if (outs.some((o) => o.kind === 'result')) return [{ player: mover, kind: 'new', body: '' }];
    const free = [...board].flatMap((c, k) => (c === '.' ? [k] : []));
    return [{ player: mover, kind: 'move', body: String(free[Math.floor(rnd() * free.length)]) }];
  };
}

/** The export format of node/transcript.ts `buildTranscript`, from the logged events in delivery order. */
export function toTranscript(log: { ch: string; name: string; events: LoggedEvent[] }): Transcript {
  return {
    format: 'parley-transcript',
    v: 1,
    channel: log.ch,
    name: log.name,
    exported_at: new Date().toISOString(),
    events: log.events.map((e, i) => ({ id: e.id, dnum: i + 1, body: e.bodyText, sig: toB64u(e.sig) })),
  };
}
