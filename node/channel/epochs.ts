/**
 * A channel's epochs as this node holds them: one key and one replica (node/replica.ts) per epoch, and which older
 * epochs are let go (docs/DESIGN-NOTES.md "Old epochs"). How keys arrive and leave is node/channel/epoch-keys.ts.
 */
import type { EpochContext } from '../../protocol/event.js';
import type { Membership } from '../membership.js';
import type { RelayPool } from '../relay-connection.js';
import { describeRefusal } from '../relay-guard.js';
import { EpochReplica, type ReplicaEntry } from '../replica.js';
import type { LocalStore } from '../store.js';
import { oldEpochGraceMs } from '../config.js';

/** What a new replica is wired to. */
export interface ReplicaHooks {
  /** New log entries, for the ingest pipeline. */
  onEntries(ep: number, entries: ReplicaEntry[]): void;
  /** Document updates wait to be stored: the pipeline flushes soon. */
  onPending(): void;
  /** A problem for `verify_channel` (a relay update refused, a relay refusing ours). */
  problem(line: string): void;
  /** A replica was created (presence watches its awareness). */
  onReplica(ep: number, replica: EpochReplica): void;
}

export class Epochs {
  private readonly keys = new Map<number, Uint8Array>();
  readonly replicas = new Map<number, EpochReplica>();
  /** Older epochs let go, and when each older epoch first synced. */
  private readonly letGo = new Set<number>();
  private readonly syncedAt = new Map<number, number>();
  /** An older epoch stays linked this long after it synced, to send what we wrote there and get stragglers. */
  private readonly oldEpochGrace = oldEpochGraceMs();

  constructor(
    private readonly store: LocalStore,
    private readonly ch: string,
    private readonly writer: string,
    private readonly pool: RelayPool,
    private readonly membership: Pick<Membership, 'openSlots'>,
    private readonly hooks: ReplicaHooks,
  ) {}

  /** The current epoch: the latest one we hold a key for. */
  get current(): number {
    return Math.max(0, ...this.keys.keys());
  }

  has(ep: number): boolean {
    return this.keys.has(ep);
  }

  /** Epoch numbers and keys held, for handing later keys to a member. */
  entries(): IterableIterator<[number, Uint8Array]> {
    return this.keys.entries();
  }

  get count(): number {
    return this.keys.size;
  }

  context(ep = this.current): EpochContext {
    const key = this.keys.get(ep);
    if (!key) throw new Error(`no key for epoch ${ep}`);
    return { ch: this.ch, ep, key };
  }

  /** Loads the stored keys (before anything is posted: a bot resuming may post at once). */
  loadKeys(): void {
    for (const { ep, key } of this.store.epochKeys(this.ch)) this.keys.set(ep, key);
  }

  /** Loads every epoch's stored document. */
  loadDocuments(): void {
    for (const ep of this.keys.keys()) this.replica(ep).load();
  }

  addKey(ep: number, key: Uint8Array): void {
    this.store.saveEpochKey(this.ch, ep, key);
    this.keys.set(ep, key);
  }

  replica(ep = this.current): EpochReplica {
    const existing = this.replicas.get(ep);
    if (existing) return existing;
    const key = this.keys.get(ep);
    if (!key) throw new Error(`no key for epoch ${ep}`);
    const h = this.hooks;
    const replica = new EpochReplica(
      this.store,
      this.ch,
      ep,
      key,
      this.writer,
      this.pool,
      (entries) => h.onEntries(ep, entries),
      () => h.onPending(),
      (relay, reason) => h.problem(describeRefusal(relay, reason)),
      (relay, limit) =>
        h.problem(
          `${relay} refused an update of ours for its size: entries over ${limit} bytes are no longer sent to it`,
        ),
    );
    this.replicas.set(ep, replica);
    h.onReplica(ep, replica);
    return replica;
  }

  /** Links each epoch's room on `relays`, except older epochs already let go. */
  connect(relays: string[]): void {
    for (const [ep, r] of this.replicas) if (!this.letGo.has(ep)) r.connect(relays);
  }

  /** The epochs still linked. */
  linked(): [number, EpochReplica][] {
    return [...this.replicas].filter(([ep]) => !this.letGo.has(ep));
  }

  /** Lets go of older epochs synced for the grace period and no longer needed (the node's tick). */
  letGoIdle(now: number): void {
    const current = this.current;
    for (const [ep, r] of this.replicas) {
      if (ep === current || this.letGo.has(ep)) continue;
      if (!this.syncedAt.has(ep) && r.isSynced()) this.syncedAt.set(ep, now);
      const since = this.syncedAt.get(ep);
      if (since !== undefined && now - since >= this.oldEpochGrace && !this.needs(ep)) {
        this.letGo.add(ep);
        r.disconnect();
      }
    }
  }

  /**
   * An older epoch this node must stay in: every invite carries epoch 0's key, so a newcomer's claim lands there
   * whatever the current epoch. While any slot is open, every member stays in epoch 0: the owner's or an admin's
   * node to admit the claim, and everyone's to deliver the newcomer's events, whose chain starts at that claim.
   */
  needs(ep: number): boolean {
    return ep === 0 && this.membership.openSlots().length > 0;
  }

  close(): void {
    for (const r of this.replicas.values()) r.close();
    this.replicas.clear();
  }
}
