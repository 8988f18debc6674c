/**
 * How epoch keys come and go: picked up when sealed to us (an effective rotation or key hand-out, or early, see
 * `early`), made by a rotation, and handed to a member admitted from an old epoch. Who may rotate and when is
 * node/channel/authority.ts; where keys and replicas live is node/channel/epochs.ts.
 */
import type { EventType } from '../../protocol/event.js';
import { fromB64u, toB64u } from '../../protocol/bytes.js';
import { newEpochKey, openFromMember, sealToMember, type KeyPair } from '../../protocol/keys.js';
import type { IngestEvent } from '../ingest.js';
import type { Membership } from '../membership.js';
import type { Epochs } from './epochs.js';

export interface EpochKeysDeps {
  me: string;
  identity: KeyPair;
  membership: Membership;
  epochs: Epochs;
  post(type: EventType, payload: Record<string, unknown>, ep?: number): string;
  /** Where each bot stands, carried into a new epoch. */
  botCheckpoints(): unknown;
  /** Runs a job on the next turn, outside delivery (node/channel/ingest-pipeline.ts `later`). */
  later(job: () => void): void;
  isClosed(): boolean;
  /** A new current epoch is held: record it and link its room. */
  linkEpoch(ep: number): void;
  /** The new epoch is in use: publish our presence there and tell listeners. */
  announceEpoch(ep: number): void;
}

export class EpochKeys {
  constructor(private readonly d: EpochKeysDeps) {}

  /** A delivered event's keys for us: an effective rotation or key hand-out (docs/membership.md). */
  fromDelivery(ev: IngestEvent): void {
    const b = ev.body;
    if ((b.type !== 'epoch.rotate' && b.type !== 'epoch.key') || !this.d.membership.isEffective(ev.id)) return;
    const p = b.payload as Record<string, unknown>;
    const mine = ((p.keys ?? {}) as Record<string, unknown>)[this.d.me];
    if (typeof mine !== 'string' && !(mine && typeof mine === 'object')) return;
    const sealed = b.type === 'epoch.rotate' ? { [String(p.next_ep)]: mine } : (mine as Record<string, unknown>);
    this.d.later(() => this.accept(sealed));
  }

  /**
   * Later epochs' keys handed to us by the owner or an admin (`epoch.key`), taken as soon as the event is opened and
   * its signature checked, before its delivery: a member admitted from an old epoch cannot deliver it in causal order
   * (its author's chain runs through the later epochs it has no key for yet). The authority check is the one at hand;
   * a key is only a way into that epoch's room, and delivery still judges the event itself.
   */
  early(ev: IngestEvent): void {
    const b = ev.body;
    if (b.type !== 'epoch.key' || this.d.epochs.count === 0 || !this.d.membership.manages(b.author)) return;
    const mine = (b.payload as { keys?: Record<string, unknown> }).keys?.[this.d.me];
    if (mine && typeof mine === 'object') this.d.later(() => this.accept(mine as Record<string, unknown>));
  }

  private accept(sealedByEpoch: Record<string, unknown>): void {
    const { epochs, identity } = this.d;
    if (this.d.isClosed()) return;
    let added = false;
    for (const [epText, sealed] of Object.entries(sealedByEpoch)) {
      const ep = Number(epText);
      if (!Number.isInteger(ep) || ep < 0 || epochs.has(ep) || typeof sealed !== 'string') continue;
      const raw = fromB64u(sealed);
      const key = raw && openFromMember(raw, identity);
      if (key?.length !== 32) continue;
      epochs.addKey(ep, key);
      epochs.replica(ep).load();
      added = true;
    }
    if (added) {
      this.d.linkEpoch(epochs.current);
      this.d.announceEpoch(epochs.current);
    }
  }

  /** Owner or admin: start a new epoch whose key only the remaining members receive. */
  rotate(): number {
    const { epochs, membership, me } = this.d;
    const old = epochs.current;
    const next = old + 1;
    const key = newEpochKey();
    const keys: Record<string, string> = {};
    for (const m of membership.members()) keys[m.id] = toB64u(sealToMember(key, fromB64u(m.id, 32)!));
    keys[me] = toB64u(sealToMember(key, this.d.identity.publicKey));
    const members = membership.members().map((m) => m.slot);
    const rotateId = this.d.post('epoch.rotate', { next_ep: next, keys, members }, old);
    epochs.addKey(next, key);
    epochs.replica(next).load();
    this.d.linkEpoch(next);
    // The new epoch opens by linking the old one: its rotation event (and through deps, the old heads) and where
    // each bot stood, so the bots carry on across the rotation with a checkpoint members can compare.
    this.d.post('epoch.rotate', { from_ep: old, rotate: rotateId, bots: this.d.botCheckpoints() }, next);
    this.d.announceEpoch(next);
    return next;
  }

  /** Owner or admin: seal every later epoch key to a member admitted from an old epoch. */
  share(member: string, joinedEp: number): void {
    const pk = fromB64u(member, 32);
    if (!pk) return;
    const sealed: Record<string, string> = {};
    for (const [ep, key] of this.d.epochs.entries())
      if (ep > joinedEp) sealed[String(ep)] = toB64u(sealToMember(key, pk));
    this.d.post('epoch.key', { keys: { [member]: sealed } }, joinedEp);
  }
}
