/**
 * Who may do what in a channel, computed from its delivered events. Pure: no I/O, no clocks. The same code decides
 * for the live node (node/channel.ts) and for offline verification (node/transcript.ts). The model, and why, is in
 * docs/membership.md; in short:
 *
 * - **Owner**: the author of the one `channel.create` whose author and salt hash to the channel id. Any other create
 *   is refused before delivery ("forged channel.create").
 * - **Claims and admission**: holding an invite code lets an identity *claim* its slot (`member.join`, signed by the
 *   slot key). A claim gives nothing; a slot is held once the owner or an admin *admits* a claim (`member.admit`,
 *   which lists the claim in its deps). The first admission of a slot settles it for good.
 * - **Removal is final**: `member.kick` and `member.leave` close the slot; a closed slot takes no claim or admission,
 *   and a removed identity is never admitted again, to any slot.
 * - **Roles**: owner, admin (admits, kicks members and observers, renames, attaches bots), member, observer (reads,
 *   cannot post). A slot's prefix gives its holder's starting role; the owner can change roles and hand ownership on.
 *
 * Determinism. The authority events (above, plus renames, close and the key-carrying epoch events) are folded in
 * (lamport, id) order after the create, which extends causal order; an event that arrives out of that order makes the
 * fold run again from the start. The result is therefore a function of the set of delivered events, whatever order
 * they came in. Authority events whose author had no right to them at their place in the fold are delivered but
 * have no effect, and are reported (`problems`). Ordinary events (messages, status, bot traffic) are checked against
 * the state at delivery: an author must hold a slot that may post.
 *
 * Over 400 lines: the rules are one module on purpose (docs/membership.md), shared whole by the live node and
 * `parley verify`; the delivery checks, the fold (an `on…` method per authority event) and the queries all read the
 * one private state, which a split would have to expose between files.
 */
import { compareEvents } from '../protocol/event.js';
import { ownedChannelId } from '../protocol/keys.js';
import {
  AdmitPayload,
  checkSlotClaim,
  CreatePayload,
  EpochKeyPayload,
  JoinPayload,
  KickPayload,
  RolePayload,
  slotRole,
  UpdatePayload,
  type Role,
} from './payloads.js';

export type { Role };

/** The parts of an event body membership reads. */
export interface EventLike {
  ep: number;
  type: string;
  author: string;
  lamport: number;
  deps: readonly string[];
  payload: Record<string, unknown>;
}

interface Fact extends EventLike {
  id: string;
}

export interface Claim {
  id: string;
  /** The epoch the claim was made in (the invite's). */
  ep: number;
  slot: string;
  author: string;
  name: string;
  entropy: string;
}

export interface Holder {
  author: string;
  name: string;
  role: Exclude<Role, 'owner'>;
  /** The admitted claim and the admission. */
  claim: string;
  admit: string;
  entropy: string;
}

interface SlotState {
  pubkey?: string;
  holder: Holder | null;
  closed: boolean;
}

export interface MemberView {
  slot: string;
  id: string;
  name: string;
  role: Role;
  is_bot: boolean;
  status?: string;
  note?: string;
}

/** Events whose effect is decided by the fold. */
const AUTHORITY = new Set([
  'channel.create',
  'member.join',
  'member.admit',
  'member.kick',
  'member.leave',
  'member.role',
  'channel.update',
  'channel.close',
  'epoch.rotate',
  'epoch.key',
]);
/** Ordinary events a member may post; an observer may post none of them. */
const MANAGE = new Set(['bot.attach']);

const short = (id: string) => id.slice(0, 8);

export class Membership {
  owner: string | null = null;
  name = '';
  closed = false;
  expiresAt: number | null = null;
  relays: string[] = [];
  ownerName = 'owner';
  private createId: string | null = null;
  private slots = new Map<string, SlotState>();
  private claims = new Map<string, Claim>();
  /** Claims that were admitted at some point of the fold (their holder may have left since). */
  private admitted = new Set<string>();
  private slotByAuthor = new Map<string, string>();
  private removed = new Set<string>();
  private names = new Map<string, string>();
  /** Authority events by id whose fold left them without effect, with the reason. */
  private refused = new Map<string, string>();
  /** Epochs in which someone was removed, and epochs that were rotated away from (an epoch.rotate with next_ep). */
  private removalEpochs = new Set<number>();
  private rotatedEpochs = new Set<number>();
  /** Problems found in effective events (a key sealed to a non-member). */
  private flagged = new Map<string, string>();
  /** Every authority event delivered, in (lamport, id) order. */
  private readonly facts: Fact[] = [];
  private readonly factIds = new Set<string>();
  /** Who made a delivered claim: with the creator, who may author authority events at all (an order-free test). */
  private readonly claimants = new Set<string>();
  private readonly claimed = new Set<string>();
  private creator: string | null = null;
  private readonly statuses = new Map<string, { status: string; note?: string }>();

  constructor(readonly ch: string) {}

  /**
   * Why this event may not be delivered at all, or null if it may. Only checks that give the same verdict whatever
   * else has arrived (signatures, shapes, the channel id binding), or that concern ordinary posts.
   */
  refusal(id: string, ev: EventLike): string | null | 'defer' {
    const p = ev.payload;
    if (ev.type === 'channel.create') {
      const c = CreatePayload.safeParse(p);
      if (!c.success) return 'malformed channel.create';
      if (ownedChannelId(ev.author, c.data.salt) !== this.ch)
        return 'forged channel.create: the channel id does not commit to its author';
      return this.createId !== null && this.createId !== id ? 'second channel.create' : null;
    }
    // Nothing can be judged before the channel exists; the node holds such events until it does.
    if (this.owner === null) return 'defer';
    if (ev.type === 'member.join') {
      const j = JoinPayload.safeParse(p);
      if (!j.success) return 'malformed member.join';
      const { slot, slot_sig } = j.data;
      const pub = this.slots.get(slot)?.pubkey;
      if (pub === undefined) return `join of unknown slot ${slot}`;
      if (!checkSlotClaim(this.ch, slot, ev.author, slot_sig, pub)) return 'join with an invalid slot signature';
      return this.claimed.has(`${ev.author}|${slot}`) ? `second claim of ${slot}` : null;
    }
    if (AUTHORITY.has(ev.type)) {
      if (ev.author !== this.creator && !this.claimants.has(ev.author)) return `${ev.type} by a non-member`;
      return shapeProblem(ev);
    }
    if (this.isRemoved(ev.author)) return 'event by a removed member';
    if (!this.canPost(ev.author))
      return this.roleOf(ev.author) === 'observer' ? 'event by an observer (read-only)' : 'event by a non-member';
    if (MANAGE.has(ev.type) && !this.manages(ev.author))
      return `${ev.type} by someone who is not the owner or an admin`;
    return null;
  }

  /** Takes in a delivered event (after `refusal` allowed it). */
  apply(id: string, ev: EventLike): void {
    if (ev.type === 'member.status') {
      this.statuses.set(ev.author, { status: String(ev.payload.status), note: ev.payload.note as string | undefined });
      return;
    }
    if (!AUTHORITY.has(ev.type)) return;
    if (this.factIds.has(id)) return;
    this.factIds.add(id);
    const fact: Fact = {
      id,
      ep: ev.ep,
      type: ev.type,
      author: ev.author,
      lamport: ev.lamport,
      deps: ev.deps,
      payload: ev.payload,
    };
    if (ev.type === 'member.join') {
      this.claimed.add(`${ev.author}|${String(ev.payload.slot)}`);
      this.claimants.add(ev.author);
    }
    const last = this.facts.at(-1);
    if (!last || foldOrder(last, fact) < 0) {
      this.facts.push(fact);
      this.fold(fact);
      return;
    }
    // Out of (lamport, id) order: insert and fold everything again, so the outcome does not depend on arrival order.
    let i = this.facts.length;
    while (i > 0 && foldOrder(this.facts[i - 1], fact) > 0) i--;
    this.facts.splice(i, 0, fact);
    this.reset();
    for (const f of this.facts) this.fold(f);
  }

  private reset(): void {
    this.owner = null;
    this.name = '';
    this.closed = false;
    this.expiresAt = null;
    this.relays = [];
    this.ownerName = 'owner';
    this.createId = null;
    this.slots = new Map();
    this.claims = new Map();
    this.admitted = new Set();
    this.slotByAuthor = new Map();
    this.removed = new Set();
    this.names = new Map();
    this.refused = new Map();
    this.flagged = new Map();
    this.removalEpochs = new Set();
    this.rotatedEpochs = new Set();
  }

  private fold(f: Fact): void {
    const reason = this.effect(f);
    if (reason) this.refused.set(f.id, `${f.type} by ${this.describe(f.author)} has no effect: ${reason}`);
  }

  /** Applies one authority event at its place in the fold; returns why it has no effect, or null. */
  private effect(f: Fact): string | null {
    const p = f.payload;
    if (f.type === 'channel.create') return this.onCreate(f);
    if (this.owner === null) return 'it comes before channel.create';
    switch (f.type) {
      case 'member.join':
        return this.onJoin(f);
      case 'member.admit':
        return this.onAdmit(f);
      case 'member.kick':
        return this.onKick(f);
      case 'member.leave':
        return this.onLeave(f);
      case 'member.role':
        return this.onRole(f);
      case 'channel.update': {
        if (!this.manages(f.author)) return 'only the owner or an admin may rename';
        const u = UpdatePayload.parse(p);
        if (u.name !== undefined) this.name = u.name;
        return null;
      }
      case 'channel.close':
        if (f.author !== this.owner) return 'only the owner may close the channel';
        this.closed = true;
        return null;
      case 'epoch.rotate':
      case 'epoch.key': {
        if (!this.manages(f.author)) return 'only the owner or an admin may hand out epoch keys';
        if (f.type === 'epoch.rotate' && typeof p.next_ep === 'number') this.rotatedEpochs.add(f.ep);
        const strangers = keyRecipients(f).filter((r) => r !== f.author && !this.isMember(r));
        if (strangers.length > 0)
          this.flagged.set(
            f.id,
            `${f.type} by ${this.describe(f.author)} seals a key to a non-member: ${strangers.map(short).join(', ')}`,
          );
        return null;
      }
    }
    return null;
  }

  /** The channel's creation: its owner, name, expiry, relays and slots. */
  private onCreate(f: Fact): string | null {
    if (this.owner !== null) return 'the channel already exists';
    const c = CreatePayload.parse(f.payload);
    this.owner = f.author;
    this.createId = f.id;
    this.creator = f.author;
    this.name = c.name;
    this.expiresAt = c.expires_at;
    this.relays = c.relays;
    this.ownerName = c.owner_name ?? 'owner';
    for (const s of c.slots) this.slots.set(s.slot, { pubkey: s.pubkey, holder: null, closed: false });
    return null;
  }

  /** A claim: recorded, unless the claimant or the slot rules it out. */
  private onJoin(f: Fact): string | null {
    const { slot, name, entropy } = JoinPayload.parse(f.payload);
    const s = this.slots.get(slot)!;
    if (this.removed.has(f.author)) return `a removed member claimed ${slot}`;
    if (s.closed) return `claim on ${slot}, which is closed`;
    if (s.holder && s.holder.author !== f.author) return `late claim on ${slot}, which ${s.holder.name} holds`;
    if (this.slotOf(f.author) !== undefined) return `claim by someone who is already a member`;
    this.claims.set(f.id, { id: f.id, ep: f.ep, slot, author: f.author, name, entropy });
    if (!this.names.has(f.author)) this.names.set(f.author, name);
    return null;
  }

  /** An admission: the first valid one settles the slot for good. */
  private onAdmit(f: Fact): string | null {
    const { slot, member, claim } = AdmitPayload.parse(f.payload);
    if (!this.manages(f.author)) return 'only the owner or an admin may admit';
    if (!f.deps.includes(claim)) return 'the claim is not among its dependencies';
    const c = this.claims.get(claim);
    if (!c || c.slot !== slot || c.author !== member) return `it does not name a valid claim of ${slot}`;
    const s = this.slots.get(slot)!;
    if (s.holder) return s.holder.author === member ? null : `rival admission: ${slot} is held by ${s.holder.name}`;
    if (this.closed) return 'the channel is closed';
    if (s.closed) return `${slot} is closed`;
    if (this.removed.has(member)) return 'the claimant was removed from this channel';
    if (this.slotOf(member) !== undefined) return 'the claimant already holds a slot';
    s.holder = {
      author: member,
      name: c.name,
      role: slotRole(slot) ?? 'member',
      claim,
      admit: f.id,
      entropy: c.entropy,
    };
    this.admitted.add(claim);
    this.slotByAuthor.set(member, slot);
    return null;
  }

  /** A removal by the owner or an admin: the slot closes. */
  private onKick(f: Fact): string | null {
    const { slot } = KickPayload.parse(f.payload);
    if (!this.manages(f.author)) return 'only the owner or an admin may remove members';
    const s = this.slots.get(slot);
    if (!s || slot.startsWith('bot:')) return `${slot} is not a member slot`;
    if (s.closed) return `${slot} is already closed`;
    if (s.holder && s.holder.role === 'admin' && f.author !== this.owner) return 'only the owner may remove an admin';
    if (s.holder) this.removalEpochs.add(f.ep);
    this.close(s);
    return null;
  }

  /** A member leaves: its slot closes. */
  private onLeave(f: Fact): string | null {
    if (f.author === this.owner) return 'the owner cannot leave (hand ownership on first)';
    const slot = this.slotOf(f.author);
    if (slot === undefined) return 'the author holds no slot';
    this.removalEpochs.add(f.ep);
    this.close(this.slots.get(slot)!);
    return null;
  }

  /** A role change by the owner; role "owner" hands the channel on. */
  private onRole(f: Fact): string | null {
    const { slot, role } = RolePayload.parse(f.payload);
    if (f.author !== this.owner) return 'only the owner may change roles';
    const s = this.slots.get(slot);
    if (!s?.holder) return `nobody holds ${slot}`;
    if (role !== 'owner') {
      s.holder.role = role;
      return null;
    }
    // Hand-over: the new owner leaves its slot, which the old owner takes as an admin.
    const previous = this.owner;
    const heir = s.holder;
    this.slotByAuthor.delete(heir.author);
    s.holder = { ...heir, author: previous, name: this.ownerName, role: 'admin' };
    this.slotByAuthor.set(previous, slot);
    this.owner = heir.author;
    this.ownerName = heir.name;
    return null;
  }

  private close(s: SlotState): void {
    s.closed = true;
    if (!s.holder) return;
    this.removed.add(s.holder.author);
    this.slotByAuthor.delete(s.holder.author);
    s.holder = null;
  }

  private describe(author: string): string {
    const name = this.names.get(author);
    return name ? `${name} (${short(author)})` : short(author);
  }

  /** Whether someone was removed in epoch `ep` and nobody has rotated away from it yet. */
  needsRotation(ep: number): boolean {
    return this.removalEpochs.has(ep) && !this.rotatedEpochs.has(ep);
  }

  /** Whether an authority event took effect (delivered and not refused by the fold). */
  isEffective(id: string): boolean {
    return this.factIds.has(id) && !this.refused.has(id);
  }

  /**
   * Every authority event without effect, every effective one with a problem, and every valid claim that lost its
   * slot to another member (a rival: it sorts before the admission, so it was not late, but it was never admitted),
   * one sentence each.
   */
  problems(): string[] {
    const rivals: string[] = [];
    for (const c of this.claims.values()) {
      const s = this.slots.get(c.slot)!;
      if (this.admitted.has(c.id) || (!s.holder && !s.closed) || s.holder?.author === c.author) continue;
      const outcome = s.holder ? `${s.holder.name} holds the slot` : 'the slot is closed';
      rivals.push(`rival claim on ${c.slot} by ${this.describe(c.author)} was never admitted: ${outcome}`);
    }
    return [...this.refused.values(), ...this.flagged.values(), ...rivals];
  }

  /** The holder of a slot, if it is settled and open. */
  holder(slot: string): Holder | undefined {
    return this.slots.get(slot)?.holder ?? undefined;
  }

  isClosed(slot: string): boolean {
    return this.slots.get(slot)?.closed ?? false;
  }

  hasSlot(slot: string): boolean {
    return this.slots.has(slot);
  }

  claim(id: string): Claim | undefined {
    return this.claims.get(id);
  }

  /** Valid claims that wait for admission (their slot is open and not yet held), oldest first. */
  pendingClaims(): Claim[] {
    if (this.closed) return [];
    return [...this.claims.values()].filter((c) => {
      const s = this.slots.get(c.slot)!;
      return !s.holder && !s.closed && !this.removed.has(c.author) && this.slotOf(c.author) === undefined;
    });
  }

  /** This author's claim that waits for admission, if any. */
  pendingClaimOf(author: string): Claim | undefined {
    return this.pendingClaims().find((c) => c.author === author);
  }

  /** The slot an author holds ("owner", "invite:…"), or undefined. */
  slotOf(author: string): string | undefined {
    if (author === this.owner) return 'owner';
    return this.slotByAuthor.get(author);
  }

  roleOf(author: string): Role | undefined {
    if (author === this.owner) return 'owner';
    const slot = this.slotByAuthor.get(author);
    return slot ? this.slots.get(slot)!.holder!.role : undefined;
  }

  /** Owner or admin. */
  manages(author: string): boolean {
    const r = this.roleOf(author);
    return r === 'owner' || r === 'admin';
  }

  isMember(author: string): boolean {
    return this.roleOf(author) !== undefined;
  }

  nameOf(author: string): string {
    if (author === this.owner) return this.ownerName;
    const slot = this.slotByAuthor.get(author);
    if (slot) return this.slots.get(slot)!.holder!.name;
    return this.names.get(author) ?? short(author);
  }

  canPost(author: string): boolean {
    const r = this.roleOf(author);
    return r !== undefined && r !== 'observer';
  }

  isRemoved(author: string): boolean {
    return this.removed.has(author);
  }

  /** Current members: the owner and each slot's holder. */
  members(): MemberView[] {
    const out: MemberView[] = [];
    if (this.owner)
      out.push({
        slot: 'owner',
        id: this.owner,
        name: this.ownerName,
        role: 'owner',
        is_bot: false,
        ...this.statuses.get(this.owner),
      });
    for (const [slot, s] of this.slots) {
      if (s.holder)
        out.push({
          slot,
          id: s.holder.author,
          name: s.holder.name,
          role: s.holder.role,
          is_bot: false,
          ...this.statuses.get(s.holder.author),
        });
    }
    return out;
  }

  botSlots(): string[] {
    return [...this.slots.keys()].filter((s) => s.startsWith('bot:'));
  }

  /** Member slots nobody holds yet and that are not closed. */
  openSlots(): string[] {
    return [...this.slots]
      .filter(([slot, s]) => !slot.startsWith('bot:') && !s.holder && !s.closed)
      .map(([slot]) => slot);
  }
}

/**
 * The fold's order: the channel.create first (it has no deps, so this still extends causal order; a claim with no deps
 * is lamport 1 too, and must not be judged before the channel exists by the luck of its id), then (lamport, id).
 */
function foldOrder(a: Fact, b: Fact): number {
  const ca = a.type === 'channel.create' ? 0 : 1;
  const cb = b.type === 'channel.create' ? 0 : 1;
  return ca - cb || compareEvents(a, b);
}

/** Payload checks of authority events that do not depend on state (a malformed one is refused before delivery). */
function shapeProblem(ev: EventLike): string | null {
  const schema = {
    'member.admit': AdmitPayload,
    'member.kick': KickPayload,
    'member.role': RolePayload,
    'channel.update': UpdatePayload,
    'epoch.key': EpochKeyPayload,
  }[ev.type as string];
  if (schema && !schema.safeParse(ev.payload).success) return `malformed ${ev.type}`;
  if (
    ev.type === 'epoch.rotate' &&
    ev.payload.keys !== undefined &&
    (typeof ev.payload.keys !== 'object' || ev.payload.keys === null)
  )
    return 'malformed epoch.rotate';
  return null;
}

/** Member ids an epoch event seals keys to. */
function keyRecipients(f: EventLike): string[] {
  const keys = f.payload.keys;
  return keys && typeof keys === 'object' ? Object.keys(keys) : [];
}
