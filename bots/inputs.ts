/**
 * A bot's inputs, derived identically by the runner and every verifier. After `bot.attach`, the inputs are the
 * channel's `message` events and effective `member.admit` events (a member joined) whose lamport clock is above the
 * attach's. The recorded form of an input (`inputFor`) is what a step carries as `input`; `unfedAncestor` finds an
 * input the runner skipped or reordered.
 */
import type { Json } from '../protocol/canonical.js';
import { fromB64u, toHex } from '../protocol/bytes.js';
import { isFed, type Bot, type DeliveredInput, type MembershipView, type Seen } from './bot.js';
import type { StepPayload } from './payloads.js';

export class BotInputs {
  constructor(
    private readonly membership: MembershipView,
    /** Every delivered event the bots have kept, by id. */
    readonly events: Map<string, Seen>,
  ) {}

  eligible(bot: Bot, ev: DeliveredInput): boolean {
    const b = ev.body;
    if (b.lamport <= bot.attachLamport) return false;
    if (b.type === 'message') return true;
    if (b.type !== 'member.admit') return false;
    return this.membership.isEffective(ev.id) && this.membership.claim(String(b.payload.claim)) !== undefined;
  }

  /** The recorded form of an input, derived identically by runner and verifiers. */
  inputFor(_bot: Bot, ev: DeliveredInput): StepPayload['input'] {
    const b = ev.body;
    // Fields of the delivered payload as they are (message payloads are checked at delivery, node/payloads.ts).
    const p = b.payload as { params?: Json; claim?: unknown; kind?: Json; body?: Json; to?: unknown };
    if (b.type === 'bot.attach') return { hook: 'init', event: ev.id, arg: (p.params ?? {}) as Json };
    if (b.type === 'member.admit') {
      const c = this.membership.claim(String(p.claim))!;
      const entropy = toHex(fromB64u(c.entropy, 32)!);
      return { hook: 'onJoin', event: ev.id, arg: { slot: c.slot, id: c.author, name: c.name, entropy } };
    }
    const arg: Record<string, Json> = {
      id: ev.id,
      from: this.membership.slotOf(b.author) ?? 'unknown',
      name: this.membership.nameOf(b.author),
      author: b.author,
      kind: p.kind as Json,
      body: p.body as Json,
      ts: b.ts,
    };
    if (typeof p.to === 'string') arg.to = p.to;
    return { hook: 'onMessage', event: ev.id, arg };
  }

  /** An input in the causal past of `ev` (after the attach) that the runner has not fed yet, if any. */
  unfedAncestor(bot: Bot, ev: DeliveredInput): string | undefined {
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

  /** Whether nothing unfed can lie behind this event: fed, from before the attach, or never handed to the bots. */
  private settled(bot: Bot, id: string): boolean {
    const s = this.events.get(id);
    return s === undefined || isFed(s, bot) || s.ev.body.lamport <= bot.attachLamport;
  }
}
