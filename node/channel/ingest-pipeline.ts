/**
 * When a channel's received entries are ingested: they wait in an inbox, are flushed in one store transaction
 * (node/ingest.ts does the opening and judging), and large batches are opened on the open thread and admitted when
 * they come back. Also the channel's one way to run deferred work that writes to the store (`later`, `guarded`).
 */
import type { EpochContext } from '../../protocol/event.js';
import type { IngestEntry, Ingestor } from '../ingest.js';
import { openBatch, type OpenedBatch } from '../open-batch.js';
import { openOnThread } from '../opener.js';
import type { ReplicaEntry } from '../replica.js';
import type { LocalStore } from '../store.js';

export interface PipelineDeps {
  store: LocalStore;
  ingestor: Ingestor;
  context(ep: number): EpochContext;
  /** Stores every replica's pending document updates (in the flush's transaction). */
  flushUpdates(): void;
  isClosed(): boolean;
  /** `n` events were delivered (n may be 0). */
  delivered(n: number): void;
  /** Deferred work failed on the store. */
  fault(err: unknown): void;
}

export class IngestPipeline {
  private readonly inbox = new Map<number, ReplicaEntry[]>();
  private flushScheduled = false;
  /** Parts out on the open thread and not admitted yet, and who waits for them. */
  private readonly onThread = new Set<{ entries: IngestEntry[]; epoch: EpochContext }>();
  private openingDone: { promise: Promise<void>; resolve: () => void } | null = null;

  constructor(private readonly d: PipelineDeps) {}

  /** New log entries wait here until `flush`: entries from relays are batched. */
  onEntries(ep: number, entries: ReplicaEntry[]): void {
    const queue = this.inbox.get(ep);
    if (queue) queue.push(...entries);
    else this.inbox.set(ep, [...entries]);
    this.scheduleFlush();
  }

  scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.later(() => this.flush());
  }

  /** Entries wait to be flushed (`close` flushes them). */
  get waiting(): boolean {
    return this.inbox.size > 0 || this.flushScheduled;
  }

  /** Anything received and not yet admitted (dormancy waits for none). */
  get busy(): boolean {
    return this.waiting || this.onThread.size > 0;
  }

  /**
   * Stores pending document updates and ingests pending entries in one transaction. Relay messages that arrived
   * together land in one transaction (a long join commits a few times instead of once per message, which matters:
   * every commit rewrites the index pages its random event ids touched). A large batch is opened on the open thread
   * and admitted in a transaction of its own when it comes back (`admitLater`); its document update is already
   * stored, so a crash in between loses nothing: the next start ingests the stored document again.
   */
  flush(): void {
    this.flushScheduled = false;
    if (this.d.isClosed()) return;
    const { ingestor } = this.d;
    const delivered = this.d.store.transaction(() => {
      this.d.flushUpdates();
      let n = 0;
      for (const [ep, entries] of this.inbox) {
        this.inbox.delete(ep);
        const fresh = ingestor.claim(entries);
        if (fresh.length === 0) continue;
        const epoch = this.d.context(ep);
        const parts = openOnThread(fresh, epoch);
        if (parts) for (const p of parts) this.admitLater(p.opened, p.entries, epoch);
        else n += ingestor.admit(openBatch(fresh, epoch), fresh).length;
      }
      return n;
    });
    this.d.delivered(delivered);
  }

  private admitLater(opened: Promise<OpenedBatch>, entries: IngestEntry[], epoch: EpochContext): void {
    const part = { entries, epoch };
    this.onThread.add(part);
    void opened.then((batch) => {
      // Not if `settleOnThread` already admitted it inline.
      if (!this.onThread.delete(part)) return;
      if (!this.d.isClosed())
        this.guarded(() =>
          this.d.delivered(this.d.store.transaction(() => this.d.ingestor.admit(batch, entries).length)),
        );
      if (this.onThread.size === 0) this.releaseOpening();
    });
  }

  /**
   * Opens and admits, inline and now, every part still out on the open thread (their answers, when they come, are
   * ignored). For a post, which must continue this member's chain from an event it has delivered
   * (node/channel/authoring.ts).
   */
  settleOnThread(): void {
    if (this.onThread.size === 0) return;
    let n = 0;
    for (const part of this.onThread)
      n += this.d.ingestor.admit(openBatch(part.entries, part.epoch), part.entries).length;
    this.onThread.clear();
    this.releaseOpening();
    this.d.delivered(n);
  }

  /** Runs deferred work on the next turn; see `guarded`. */
  later(job: () => void): void {
    setImmediate(() => this.guarded(job));
  }

  /**
   * Runs work that writes to the store outside any tool call. If the store fails (a full disk), what was delivered
   * in memory may not be stored: the channel reports a 'fault', and its node reloads it from the store.
   */
  guarded(job: () => void): void {
    if (this.d.isClosed()) return;
    try {
      job();
    } catch (err) {
      this.d.fault(err);
    }
  }

  private releaseOpening(): void {
    this.openingDone?.resolve();
    this.openingDone = null;
  }

  /** Resolves once every entry received so far has been opened and admitted (delivered, waiting, or refused). */
  ingestIdle(): Promise<void> {
    if (this.inbox.size > 0) this.flush();
    if (this.onThread.size === 0 || this.d.isClosed()) return Promise.resolve();
    if (!this.openingDone) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.openingDone = { promise, resolve };
    }
    return this.openingDone.promise;
  }

  /** Closing: flushes what waits (the store may be failing: then it comes again from the relays at the next open). */
  close(): void {
    if (this.waiting && !this.d.isClosed()) {
      try {
        this.flush();
      } catch {
        // A failing store: what was not stored comes again from the relays at the next open.
      }
    }
    this.releaseOpening();
  }
}
