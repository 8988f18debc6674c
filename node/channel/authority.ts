/**
 * What this node does, as the channel's owner or an admin, about delivered events (docs/membership.md): admit the
 * first valid claim of an open slot, rotate after a removal, and hand later epoch keys to a member admitted from an
 * old epoch. All of it is deferred (`later`): it runs inside causal delivery, which must not be re-entered.
 */
import { MAX_DEPS, type EventType } from '../../protocol/event.js';
import type { IngestEvent } from '../ingest.js';
import type { Membership } from '../membership.js';
import type { EpochKeys } from './epoch-keys.js';

/** How long a removal waits for a relay before its rotation is reconsidered (the next removal or start retries). */
const ROTATE_SYNC_WAIT_MS = 60_000;

export interface AuthorityDeps {
  me: string;
  membership: Membership;
  keys: EpochKeys;
  epoch(): number;
  currentHeads(max: number): string[];
  post(type: EventType, payload: Record<string, unknown>, ep?: number, pinnedDeps?: string[]): string;
  isSynced(): boolean;
  waitSynced(timeoutMs: number): Promise<boolean>;
  ingestIdle(): Promise<void>;
  later(job: () => void): void;
  isClosed(): boolean;
}

export class Authority {
  constructor(private readonly d: AuthorityDeps) {}

  /** A delivered event: a claim to admit, or a removal of ours to rotate after. */
  react(ev: IngestEvent): void {
    const { membership: m, me } = this.d;
    const b = ev.body;
    if (this.d.isClosed() || !m.manages(me)) return;
    if (b.type === 'member.join' && m.claim(ev.id)) this.d.later(() => this.admit(ev.id));
    const removal = (b.type === 'member.kick' && b.author === me) || (b.type === 'member.leave' && m.owner === me);
    if (removal && b.ep === this.d.epoch() && m.isEffective(ev.id))
      void this.d.ingestIdle().then(() => this.d.later(() => this.rotateIfNeeded()));
  }

  /**
   * Rotates after a removal unless the history already holds the rotation: a node catching up on its own old kick
   * (a profile rebuilt from an identity backup) must not start a second, different key for the same epoch. Only once
   * a relay has served the history and ingest has settled, so the rotation, if there is one, has been delivered.
   */
  private rotateIfNeeded(): void {
    if (!this.d.membership.needsRotation(this.d.epoch())) return;
    if (this.d.isSynced()) this.d.keys.rotate();
    else {
      void this.d.waitSynced(ROTATE_SYNC_WAIT_MS).then(async (ok) => {
        if (!ok) return;
        await this.d.ingestIdle();
        this.d.later(() => this.rotateIfNeeded());
      });
    }
  }

  /**
   * Admits a claim if its slot is still open, so the first valid claim this node sees settles the slot. The claim
   * is pinned among the admission's deps: no node can count the admission without the claim.
   */
  private admit(claimId: string): void {
    const { membership: m, me } = this.d;
    const c = m.claim(claimId);
    if (this.d.isClosed() || !c || !m.manages(me) || !m.pendingClaims().some((x) => x.id === claimId)) return;
    // An expired channel takes no new members (join_channel tells the claimant so).
    if (m.expiresAt !== null && Date.now() > m.expiresAt) return;
    const epoch = this.d.epoch();
    const deps = [...new Set([claimId, ...this.d.currentHeads(MAX_DEPS - 1)])].sort();
    this.d.post('member.admit', { slot: c.slot, member: c.author, claim: claimId }, epoch, deps);
    if (c.ep < epoch && m.holder(c.slot)?.author === c.author) this.d.keys.share(c.author, c.ep);
  }

  /** Admits the claims that arrived while this node was not running. */
  admitWaiting(): void {
    if (!this.d.membership.manages(this.d.me)) return;
    for (const c of this.d.membership.pendingClaims()) this.d.later(() => this.admit(c.id));
  }
}
