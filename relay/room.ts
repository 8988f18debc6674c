/**
 * One room in memory: its `log` entries (loaded lazily from storage when the first connection arrives), the state
 * vector and key set the validator needs, the connections, and the awareness states. Speaks the y-websocket wire
 * protocol (relay/wire.ts); leaves sockets, auth and limits to relay/server.ts. Its parts: the task queue
 * (relay/room-queue.ts), the entries (relay/entries.ts), the batch being validated (relay/batch.ts), the streamed
 * sync answers (relay/sync-answer.ts) and the awareness states (relay/awareness.ts).
 *
 * There is no server-side Y.Doc (see docs/relay.md "Why these checks": applying updates to a big document costs
 * 0.35-0.6 ms each, validating them about 7 µs). Because the relay accepts only new `log` entries with consecutive
 * clocks, its state is exactly "entries per Yjs client, clocks 0..n-1", and any part of it can be re-encoded as a
 * Yjs update with protocol/log-update.ts `encodeEntries`.
 *
 * Order for updates: validate → store (committed) → remember → forward to the other connections.
 * Storage is asynchronous (relay/store.ts), so a room handles its joins, messages, leaves and read-backs one at a
 * time, in arrival order: the validator must see the room as every earlier update left it.
 * Updates come in batches: the messages a room receives in one event-loop turn (and while its previous task was
 * still waiting for the store) are one task. Each update of the batch is validated against the room as the earlier
 * ones left it (their entries are staged, not yet remembered); the staged entries of every sender are stored in one
 * append (one transaction, one PostgreSQL round trip), and only once it is committed are they remembered and
 * forwarded: one merged update per connection, holding the entries of every sender but that connection. A refused
 * update refuses its sender only; the others' updates go on. Any other message (a sync step 1, awareness) first
 * commits and forwards what is staged, so it sees the room exactly as it would have one message at a time.
 * With a shared store, entries other relay processes appended are read back by cursor (`ring`) and forwarded to
 * this process's connections; they were committed before anyone rang.
 * The answer to a sync step 1 is streamed outside the room's queue, one part at a time (relay/sync-answer.ts); a
 * request while an answer is still streaming is covered by that answer (everything after its snapshot was broadcast
 * to the peer).
 *
 * Over 400 lines: this header is the room's contract (the order of validate, store, remember and forward), which the
 * code beneath keeps in one place; the code itself is under 390 lines.
 */
import * as decoding from 'lib0/decoding';
import { encodeEntries, type LogEntry } from '../protocol/log-update.js';
import { StoreUnavailableError, storeFailureReason, type RelayStore, type StoreUsage } from './store.js';
import { RoomAwareness } from './awareness.js';
import { Batch, type Staged } from './batch.js';
import { RoomEntries } from './entries.js';
import type { RelayMetrics } from './metrics.js';
import type { RoomLimits } from './options.js';
import type { Peer } from './peer.js';
import { RoomQueue } from './room-queue.js';
import { SyncAnswers } from './sync-answer.js';
import {
  chunkEntries,
  decodeStateVector,
  MESSAGE_AWARENESS,
  MESSAGE_QUERY_AWARENESS,
  MESSAGE_SYNC,
  SYNC_STEP1,
  SYNC_UPDATE,
  syncMessage,
  updatePayload,
} from './wire.js';

// The wire vocabulary and connection type a room's users (tests, test relays) import along with the room.
export {
  MESSAGE_AWARENESS,
  MESSAGE_QUERY_AWARENESS,
  MESSAGE_SYNC,
  SYNC_STEP1,
  SYNC_STEP2,
  SYNC_UPDATE,
  syncMessage,
} from './wire.js';
export type { MessageRefusal, Peer } from './peer.js';

/** Rows read per query when reading back other processes' entries. */
const READ_BACK_ROWS = 5000;

/** A message as received, before its turn in the room's queue. */
interface Received {
  peer: Peer;
  message: Uint8Array;
}

export class Room {
  readonly peers = new Set<Peer>();
  private readonly entries: RoomEntries;
  private readonly awareness: RoomAwareness;
  private readonly answers = new SyncAnswers();
  /** When the last connection left (for idle unloading). */
  idleSince = Date.now();
  /** Last time the room was recorded as used in storage (for the disk TTL). */
  private touchedAt = 0;
  private loaded = false;
  private joining = 0;
  /** Everything of this room in the store up to here is in memory. */
  private cursor = 0;
  /** Highest cursor another process announced; a read-back is due while it is ahead of `cursor`. */
  private head = 0;
  private headSentAt = 0;
  private readBackQueued = false;
  /** The room's work, one task at a time (see the header). */
  private readonly queue: RoomQueue<Received>;
  /** Updates of the running batch validated and not yet stored. */
  private readonly batch: Batch;

  constructor(
    readonly name: string,
    private readonly store: RelayStore,
    private readonly metrics: RelayMetrics,
    private readonly limits: RoomLimits,
    private readonly usage: StoreUsage,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    this.entries = new RoomEntries(name);
    this.awareness = new RoomAwareness(limits.maxAwarenessBytes);
    this.batch = new Batch(this.entries, limits, usage, metrics);
    this.queue = new RoomQueue((err: unknown) => this.log(`room ${this.name}: ${(err as Error).message}`));
  }

  /** Resolves when every task queued so far has run. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Loads the room from the store once; false (and the room stays unloaded, to retry later) if the store fails. */
  private async ensureLoaded(): Promise<boolean> {
    if (this.loaded) return true;
    try {
      const { entries, cursor } = await this.store.load(this.name);
      for (const e of entries) this.entries.remember(e);
      this.cursor = cursor;
      this.loaded = true;
      return true;
    } catch (err) {
      if (!(err instanceof StoreUnavailableError))
        this.log(`room ${this.name}: cannot load: ${(err as Error).message}`);
      // Forget the partial load, so the next join loads the room again from the start.
      this.entries.reset();
      return false;
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** True while the room has connections or joins still queued: it must not be unloaded. */
  get busy(): boolean {
    return this.peers.size > 0 || this.joining > 0;
  }

  join(peer: Peer, now = Date.now()): void {
    this.joining++;
    this.queue.enqueue(async () => {
      this.joining--;
      if (!(await this.ensureLoaded())) {
        if (!this.busy) this.idleSince = Date.now();
        return peer.unavailable();
      }
      this.peers.add(peer);
      await this.touch(now, true);
      this.greet(peer);
    });
  }

  private greet(peer: Peer): void {
    peer.send(syncMessage(SYNC_STEP1, this.entries.stateVector()));
    for (const states of this.awareness.messages()) peer.send(states);
  }

  leave(peer: Peer): void {
    this.queue.enqueue(() => this.forget(peer));
  }

  private forget(peer: Peer): void {
    this.answers.cancel(peer);
    if (!this.peers.delete(peer)) return;
    for (const message of this.awareness.release(peer)) this.broadcast(message, null);
    if (!this.busy) this.idleSince = Date.now();
  }

  /**
   * Queues one message from a peer, in the batch of this turn (see the header); malformed framing refuses the peer
   * with 'bad-message'.
   */
  receive(peer: Peer, message: Uint8Array): void {
    this.queue.gather({ peer, message }, (batch) => this.handleBatch(batch));
  }

  /** Handles a batch of messages in arrival order: updates are staged, and committed together (see the header). */
  private async handleBatch(batch: readonly Received[]): Promise<void> {
    for (const { peer, message } of batch) {
      // A peer whose join failed (store away), that left, or that was refused has nothing more to say here: as with
      // a synchronous store, nothing after a refused message counts (a peer's own close does not drop its messages).
      if (!this.peers.has(peer) || peer.refused) continue;
      let update: Uint8Array | null;
      try {
        update = updatePayload(message);
      } catch {
        peer.refuse('bad-message');
        continue;
      }
      if (update !== null) {
        this.batch.stage(peer, update);
        continue;
      }
      // Anything else sees the room as every earlier message left it: commit and forward what is staged first.
      await this.flush();
      if (!this.peers.has(peer) || peer.refused) continue;
      try {
        this.handle(peer, message);
      } catch {
        peer.refuse('bad-message');
      }
    }
    await this.flush();
  }

  /** A message other than an update (those are staged by `handleBatch`). */
  private handle(peer: Peer, message: Uint8Array): void {
    const d = decoding.createDecoder(message);
    const type = decoding.readVarUint(d);
    if (type === MESSAGE_SYNC) {
      const step = decoding.readVarUint(d);
      const payload = decoding.readVarUint8Array(d);
      if (step === SYNC_STEP1) return this.answerStep1(peer, payload);
      return peer.refuse('bad-message');
    }
    if (type === MESSAGE_AWARENESS) return this.applyAwareness(peer, message, decoding.readVarUint8Array(d));
    if (type === MESSAGE_QUERY_AWARENESS) {
      // Every state of the room for one byte: metered like awareness updates.
      if (!peer.take('awareness')) return this.metrics.refuse('awareness-rate-limit');
      for (const states of this.awareness.messages()) peer.send(states);
      return;
    }
    peer.refuse('bad-message');
  }

  /** Stores the staged entries in one append and forwards them; then answers the staged gaps. */
  private async flush(): Promise<void> {
    const staged = this.batch.take();
    if (staged === null) return;
    if (staged.entries.length > 0) await this.commit(staged);
    for (const peer of staged.gaps)
      if (this.peers.has(peer) && !peer.refused) peer.send(syncMessage(SYNC_STEP1, this.entries.stateVector()));
  }

  /** The store is away: each writer of the batch is told to try again later (1013), and counted once. */
  private unavailableTo(writers: Set<Peer>): void {
    for (const peer of writers) {
      if (peer.refused) continue;
      this.metrics.refuse('store-unavailable');
      peer.unavailable();
    }
  }

  private async commit(staged: Staged): Promise<void> {
    const { entries, senders } = staged;
    const writers = new Set(senders);
    const started = performance.now();
    let result;
    try {
      result = await this.store.append(this.name, entries, this.cursor, Date.now());
    } catch (err) {
      if (err instanceof StoreUnavailableError) return this.unavailableTo(writers);
      // Disk full or another write error: refuse these writers only; readers keep being served from memory.
      if (this.metrics.writesFailing === 0)
        this.log(`store write failed (${(err as Error).message}); refusing writes until one succeeds`);
      this.metrics.writesFailing = 1;
      const reason = storeFailureReason(err);
      for (const peer of writers) peer.refuse(reason);
      return;
    }
    if (this.metrics.writesFailing === 1) this.log('store writes succeed again');
    this.metrics.writesFailing = 0;
    this.metrics.observeAppend(performance.now() - started);
    this.metrics.entriesStored += result.stored.length;
    this.usage.bytes += result.stored.reduce((n, e) => n + e.value.length, 0);
    try {
      if (result.cursor !== null) {
        // Nothing else reached the room meanwhile, so nothing conflicted: stored = entries.
        for (const e of entries) this.entries.remember(e);
        this.cursor = result.cursor;
        if (staged.whole) this.broadcast(syncMessage(SYNC_UPDATE, staged.whole.update), staged.whole.peer);
        else this.forwardBatch(entries, senders);
      } else {
        // Other processes appended first: read everything back in cursor order, this batch's entries included.
        const senderOf = new Map<string, Peer>();
        for (const [i, e] of entries.entries()) senderOf.set(e.key, senders[i]);
        const mine = new Map<string, Peer>();
        for (const e of result.stored) mine.set(e.key, senderOf.get(e.key)!);
        const fresh = await this.readBack();
        this.forwardBatch(
          fresh,
          fresh.map((e) => mine.get(e.key) ?? null),
        );
      }
    } catch (err) {
      if (err instanceof StoreUnavailableError) return this.unavailableTo(writers);
      for (const peer of writers) peer.refuse('bad-message');
      return;
    }
    await this.touch(Date.now(), false);
  }

  /**
   * Forwards committed entries, `senders[i]` having sent `entries[i]` (null: another process stored it): each
   * connection gets one update (in messages of bounded size) with every entry but its own.
   */
  private forwardBatch(entries: readonly LogEntry[], senders: readonly (Peer | null)[]): void {
    const writers = new Set<Peer>();
    for (const p of senders) if (p !== null) writers.add(p);
    if (writers.size === 0) return this.forward(entries, null);
    let all: Uint8Array[] | null = null;
    for (const peer of this.peers) {
      if (!writers.has(peer)) {
        all ??= [...this.chunks(entries)].map((chunk) => syncMessage(SYNC_UPDATE, encodeEntries(chunk)));
        for (const message of all) peer.send(message);
        continue;
      }
      const others = entries.filter((_, i) => senders[i] !== peer);
      for (const chunk of this.chunks(others)) peer.send(syncMessage(SYNC_UPDATE, encodeEntries(chunk)));
    }
  }

  /** Another process appended to this room up to `cursor` (a notification or a poll): read it back and forward it. */
  ring(cursor: number, sentAt = 0): void {
    if (cursor > this.head) {
      this.head = cursor;
      this.headSentAt = sentAt;
    }
    if (this.head <= this.cursor || this.readBackQueued || !this.loaded) return;
    this.readBackQueued = true;
    this.queue.enqueue(async () => {
      this.readBackQueued = false;
      if (!this.loaded || this.head <= this.cursor) return;
      const sentAt = this.headSentAt;
      try {
        const fresh = await this.readBack();
        if (fresh.length > 0) this.forward(fresh, null);
        if (sentAt > 0) this.metrics.observeNotifyLag(Date.now() - sentAt);
      } catch (err) {
        // The next notification or poll rings again.
        if (!(err instanceof StoreUnavailableError)) throw err;
      }
    });
  }

  /** Reads the store after `cursor` and remembers what is new; returns the new entries in cursor order. */
  private async readBack(): Promise<LogEntry[]> {
    const fresh: LogEntry[] = [];
    for (;;) {
      const { entries, cursor } = await this.store.since(this.name, this.cursor, READ_BACK_ROWS);
      for (const e of entries) {
        if (this.entries.has(e.key)) continue;
        // Clocks stay consecutive in cursor order; anything else would be a second item at a taken Yjs id: skip it.
        if (e.clock !== this.entries.clock(e.client)) continue;
        this.entries.remember(e);
        fresh.push(e);
      }
      this.cursor = cursor;
      if (entries.length < READ_BACK_ROWS) return fresh;
    }
  }

  /** Sends entries to every connection but `except`, in messages of bounded size. */
  private forward(entries: readonly LogEntry[], except: Peer | null): void {
    for (const chunk of this.chunks(entries)) this.broadcast(syncMessage(SYNC_UPDATE, encodeEntries(chunk)), except);
  }

  private chunks(entries: Iterable<LogEntry>): Generator<LogEntry[]> {
    return chunkEntries(entries, this.limits.syncChunkBytes, this.limits.syncChunkEntries);
  }

  /**
   * Sends what the peer's state vector lacks: update messages of bounded size, the last part as sync step 2, one
   * part at a time (see the header).
   */
  private answerStep1(peer: Peer, encodedSv: Uint8Array): void {
    const sv = decodeStateVector(encodedSv);
    // Covered by the answer still streaming, so free: a node asks again on every clock gap, and updates broadcast
    // meanwhile arrive ahead of the parts that precede them.
    if (this.answers.has(peer)) return;
    if (!peer.take('sync-step1')) return peer.refuse('sync-rate-limit');
    this.answers.stream(peer, this.chunks(this.entries.missing(sv)));
  }

  /** Keeps the latest state per awareness client (opaque JSON text) and forwards the message to every connection. */
  private applyAwareness(peer: Peer, message: Uint8Array, update: Uint8Array): void {
    if (update.length > this.limits.maxAwarenessBytes) {
      this.log(
        `room ${this.name}: awareness update of ${update.length} bytes refused (limit ` +
          `${this.limits.maxAwarenessBytes})`,
      );
      return peer.refuse('awareness-oversize');
    }
    // Over the rate the update is dropped, not the connection: a burst of presence must not cut a node off, and
    // clients renew their state every 10-15 s anyway.
    if (!peer.take('awareness')) return this.metrics.refuse('awareness-rate-limit');
    if (!this.awareness.apply(peer, update)) return peer.refuse('bad-message');
    // Back to the sender too: harmless (its own clock is not newer) and keeps a lone client's connection alive.
    this.broadcast(message, null);
  }

  /** Drops awareness states not renewed in time (relay/awareness.ts). */
  expireAwareness(now = Date.now()): void {
    this.awareness.expire(now);
  }

  private broadcast(message: Uint8Array, except: Peer | null): void {
    for (const peer of this.peers) if (peer !== except) peer.send(message);
  }

  /** Records use for the disk TTL on join (appends record it themselves); the relay's maintenance pass renews it. */
  private async touch(now: number, force: boolean): Promise<void> {
    if (!force && now - this.touchedAt < 60_000) return;
    this.touchedAt = now;
    try {
      await this.store.touch([this.name], now);
    } catch {
      // Store away or disk full: the next join or append records it; a reader is not refused for want of a timestamp.
      this.touchedAt = 0;
    }
  }
}
