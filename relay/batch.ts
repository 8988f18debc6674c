/**
 * The updates of a room's running batch (see relay/room.ts): each is validated against the room as the earlier ones
 * left it, and its entries are staged, not yet remembered, until the room stores them all in one append.
 */
import { validateUpdate, type LogEntry } from '../protocol/log-update.js';
import type { RoomEntries } from './entries.js';
import type { RelayMetrics } from './metrics.js';
import type { RoomLimits } from './options.js';
import type { Peer } from './peer.js';
import type { StoreUsage } from './store.js';

/** Entries of a batch validated but not yet stored: the view the next update of the batch is checked against. */
export class Staged {
  /** The new entries in order, each with its sender at the same index. */
  readonly entries: LogEntry[] = [];
  readonly senders: Peer[] = [];
  /** Next clock per Yjs client with staged entries. */
  readonly next = new Map<number, number>();
  readonly keys = new Set<string>();
  bytes = 0;
  /** The one update whose bytes can be forwarded as they came (accepted whole, small), while it is alone. */
  whole: { peer: Peer; update: Uint8Array } | null = null;
  updates = 0;
  /** Senders of updates with items past a clock gap: each is sent the room's state vector after the commit. */
  readonly gaps = new Set<Peer>();

  get empty(): boolean {
    return this.entries.length === 0 && this.gaps.size === 0;
  }
}

export class Batch {
  /** Updates of the running batch validated and not yet stored. */
  private staged = new Staged();

  constructor(
    private readonly entries: RoomEntries,
    private readonly limits: RoomLimits,
    private readonly usage: StoreUsage,
    private readonly metrics: RelayMetrics,
  ) {}

  /** The room as the validator sees it: what is remembered, and what the running batch has staged. */
  private readonly view = {
    clock: (client: number): number => this.staged.next.get(client) ?? this.entries.clock(client),
    hasKey: (key: string): boolean => this.entries.has(key) || this.staged.keys.has(key),
  };

  /** Validates an update against the room as the earlier updates of the batch left it, and stages its entries. */
  stage(peer: Peer, update: Uint8Array): void {
    const staged = this.staged;
    const verdict = validateUpdate(update, this.view, this.limits.maxValueBytes);
    if (!verdict.ok) return peer.refuse(verdict.reason);
    const { entries, duplicates, gap } = verdict;
    if (entries.length > 0) {
      const bytes = entries.reduce((n, e) => n + e.value.length, 0);
      // Quotas count entry value bytes: what a writer controls and what the store must keep.
      if (this.entries.valueBytes + staged.bytes + bytes > this.limits.roomQuotaBytes) return peer.refuse('room-quota');
      if (this.usage.bytes + staged.bytes + bytes > this.limits.diskQuotaBytes) return peer.refuse('disk-quota');
      staged.bytes += bytes;
      for (const e of entries) {
        staged.entries.push({ ...e, value: e.value.slice() });
        staged.senders.push(peer);
        staged.next.set(e.client, e.clock + 1);
        staged.keys.add(e.key);
      }
      // Forward the client's own bytes when they were accepted whole and are small (and alone in the batch).
      staged.whole =
        ++staged.updates === 1 && duplicates === 0 && !gap && update.length <= this.limits.syncChunkBytes
          ? { peer, update }
          : null;
    }
    this.metrics.updatesAccepted++;
    // Items past a gap: ask the client for everything this relay lacks (it answers with a sync step 2).
    if (gap) staged.gaps.add(peer);
  }

  /** What is staged, if anything; the next update starts a new batch. */
  take(): Staged | null {
    const staged = this.staged;
    if (staged.empty) return null;
    this.staged = new Staged();
    return staged;
  }
}
