/**
 * Membership state of one channel, rebuilt from delivered events. Pure.
 *
 * Slot claims: the owner holds "owner"; an invite slot is claimed by a `member.join` signed (over the identity) by the
 * slot key from the invite. Concurrent claims are all recorded; the winner is the first in (lamport, id) order, the
 * others are shown as rejected. An author may post once it holds a claim that has not been rejected, kicked or left.
 */
import { compareEvents } from '../protocol/event.js';
import { checkSlotClaim, CreatePayload, JoinPayload } from './payloads.js';

export interface Claim {
  author: string;
  id: string;
  lamport: number;
  name: string;
  entropy: string;
}

export interface MemberView {
  slot: string;
  id: string;
  name: string;
  is_bot: boolean;
  status?: string;
  note?: string;
}

export interface DeliveredEventLike {
  id: string;
  type: string;
  author: string;
  lamport: number;
  payload: Record<string, unknown>;
}

export class Membership {
  owner: string | null = null;
  name = '';
  closed = false;
  expiresAt: number | null = null;
  relays: string[] = [];
  ownerName = 'owner';
  readonly slotKeys = new Map<string, string | undefined>();
  private readonly claims = new Map<string, Claim[]>();
  private readonly removed = new Set<string>();
  private readonly statuses = new Map<string, { status: string; note?: string }>();

  constructor(readonly ch: string) {}

  /** Why this event may not be delivered, or null if it may. Called before `apply`. */
  refusal(ev: DeliveredEventLike): string | null {
    if (ev.type === 'channel.create') {
      if (this.owner !== null) return 'second channel.create';
      return CreatePayload.safeParse(ev.payload).success ? null : 'malformed channel.create';
    }
    if (this.owner === null) return 'event before channel.create';
    if (ev.type === 'member.join') {
      const p = JoinPayload.safeParse(ev.payload);
      if (!p.success) return 'malformed member.join';
      const { slot, slot_sig } = p.data;
      const pub = this.slotKeys.get(slot);
      if (!slot.startsWith('invite:') || pub === undefined) return `join of unknown slot ${slot}`;
      if (this.removed.has(ev.author)) return 'join by a removed member';
      return checkSlotClaim(this.ch, slot, ev.author, slot_sig, pub) ? null : 'join with an invalid slot signature';
    }
    if (!this.canPost(ev.author)) return 'event by a non-member';
    if (['channel.update', 'channel.close', 'member.kick', 'bot.attach', 'epoch.rotate'].includes(ev.type) && ev.author !== this.owner) {
      return `${ev.type} by someone other than the owner`;
    }
    return null;
  }

  apply(ev: DeliveredEventLike): void {
    switch (ev.type) {
      case 'channel.create': {
        const p = CreatePayload.parse(ev.payload);
        this.owner = ev.author;
        this.name = p.name;
        this.expiresAt = p.expires_at;
        this.relays = p.relays;
        this.ownerName = p.owner_name ?? 'owner';
        for (const s of p.slots) this.slotKeys.set(s.slot, s.pubkey);
        break;
      }
      case 'member.join': {
        const p = JoinPayload.parse(ev.payload);
        const list = this.claims.get(p.slot) ?? [];
        if (!list.some((c) => c.author === ev.author)) list.push({ author: ev.author, id: ev.id, lamport: ev.lamport, name: p.name, entropy: p.entropy });
        list.sort(compareEvents);
        this.claims.set(p.slot, list);
        break;
      }
      case 'channel.update':
        if (typeof ev.payload.name === 'string') this.name = ev.payload.name;
        break;
      case 'channel.close':
        this.closed = true;
        break;
      case 'member.leave':
        this.removed.add(ev.author);
        break;
      case 'member.kick': {
        const holder = this.holder(String(ev.payload.slot));
        if (holder) this.removed.add(holder.author);
        break;
      }
      case 'member.status':
        this.statuses.set(ev.author, { status: String(ev.payload.status), note: ev.payload.note as string | undefined });
        break;
    }
  }

  /** The winning claim of a slot, if any. */
  holder(slot: string): Claim | undefined {
    return this.claims.get(slot)?.find((c) => !this.removed.has(c.author));
  }

  /** The slot an author holds ("owner", "invite:…"), or undefined. */
  slotOf(author: string): string | undefined {
    if (author === this.owner) return 'owner';
    for (const slot of this.claims.keys()) if (this.holder(slot)?.author === author) return slot;
    return undefined;
  }

  nameOf(author: string): string {
    if (author === this.owner) return this.ownerName;
    for (const list of this.claims.values()) for (const c of list) if (c.author === author) return c.name;
    return author.slice(0, 8);
  }

  canPost(author: string): boolean {
    if (this.removed.has(author)) return false;
    return author === this.owner || this.slotOf(author) !== undefined;
  }

  isRemoved(author: string): boolean {
    return this.removed.has(author);
  }

  /** Current members: the owner and each slot's winning claimant. */
  members(): MemberView[] {
    const out: MemberView[] = [];
    if (this.owner && !this.removed.has(this.owner)) out.push({ slot: 'owner', id: this.owner, name: this.ownerName, is_bot: false, ...this.statuses.get(this.owner) });
    for (const slot of this.slotKeys.keys()) {
      const c = slot.startsWith('invite:') ? this.holder(slot) : undefined;
      if (c) out.push({ slot, id: c.author, name: c.name, is_bot: false, ...this.statuses.get(c.author) });
    }
    return out;
  }

  botSlots(): string[] {
    return [...this.slotKeys.keys()].filter((s) => s.startsWith('bot:'));
  }

  openInviteSlots(): string[] {
    return [...this.slotKeys.keys()].filter((s) => s.startsWith('invite:') && !this.holder(s));
  }

}
