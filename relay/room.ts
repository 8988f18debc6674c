/**
 * One room in memory: its `log` entries (loaded lazily from storage when the first connection arrives), the state
 * vector and key set the validator needs, the connections, and the awareness states. Speaks the y-websocket wire
 * protocol; leaves sockets, auth and limits to relay/server.ts.
 *
 *   message = varuint type, payload
 *   type 0 sync:       varuint step (0 = step 1 state vector, 1 = step 2 update, 2 = update), varuint8array payload
 *   type 1 awareness:  varuint8array awareness update (varuint n, n × {varuint client, varuint clock, varstring JSON})
 *   type 3 query awareness: no payload; answered with every known awareness state
 *
 * There is no server-side Y.Doc (see docs/relay.md "Why these checks": applying updates to a big document costs
 * 0.35-0.6 ms each, validating them about 7 µs). Because the relay accepts only new `log` entries with consecutive
 * clocks, its state is exactly "entries per Yjs client, clocks 0..n-1", and any part of it can be re-encoded as a
 * Yjs update with relay/validate.ts `encodeEntries`.
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
 * The answer to a sync step 1 is sent as update messages of bounded size followed by a sync step 2 carrying the
 * last part (a stock WebsocketProvider marks itself synced on step 2, after applying all the earlier parts). It is
 * streamed outside the room's queue, one part at a time, the next only once the previous one has left the process
 * (`Peer.stream`), so a client that does not read holds at most one part in the relay's memory; a request while an
 * answer is still streaming is covered by that answer (everything after its snapshot was broadcast to the peer).
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { encodeEntries, validateUpdate, type LogEntry, type RefusalReason } from '../protocol/log-update.js';
import { StoreUnavailableError, storeFailureReason, type RelayStore } from './store.js';
import type { RelayMetrics } from './metrics.js';
import type { RelayRefusal } from './options.js';

export const MESSAGE_SYNC = 0;
export const MESSAGE_AWARENESS = 1;
export const MESSAGE_QUERY_AWARENESS = 3;
export const SYNC_STEP1 = 0;
export const SYNC_STEP2 = 1;
export const SYNC_UPDATE = 2;

/** An awareness state is dropped if not renewed for this long (y-protocols clients renew every 15 s). */
export const AWARENESS_TIMEOUT_MS = 30_000;

/** Awareness states kept per room; further new clients are forwarded but not remembered. */
export const MAX_AWARENESS_STATES = 1024;

/** Rows read per query when reading back other processes' entries. */
const READ_BACK_ROWS = 5000;

export type MessageRefusal = RefusalReason | 'bad-message' | RelayRefusal;

/** What a room needs from a connection. */
export interface Peer {
  /** Sends now; a connection whose send buffer is past its bound is not fed but closed (backpressure). */
  send(message: Uint8Array): void;
  /** Sends and calls `sent` once the bytes have left the process; false (and no call) if the connection is gone. */
  stream(message: Uint8Array, sent: () => void): boolean;
  /** Takes a token from the connection's bucket for this kind of message; false = over its rate. */
  take(kind: 'sync-step1' | 'awareness'): boolean;
  /** Closes the connection with the reason's close code (options.ts closeCodeFor), and counts the refusal. */
  refuse(reason: MessageRefusal): void;
  /** Closes the connection with 1013 (try again later): the store cannot take the write or serve the room now. */
  unavailable(): void;
  /** True once the relay refused or closed this connection: its messages still queued are dropped. */
  readonly refused: boolean;
}

export interface RoomLimits {
  maxValueBytes: number;
  syncChunkBytes: number;
  syncChunkEntries: number;
  maxAwarenessBytes: number;
  roomQuotaBytes: number;
  diskQuotaBytes: number;
}

/** Bytes of entry values in the whole store, shared by the rooms of one relay (for the disk quota). */
export interface StoreUsage {
  bytes: number;
}

interface AwarenessState {
  clock: number;
  /** The state exactly as sent (JSON text, opaque to the relay); 'null' = removed. */
  state: string;
  updated: number;
  owner: Peer | null;
}

/** A message as received, before its turn in the room's queue. */
interface Received {
  peer: Peer;
  message: Uint8Array;
}

/** Entries of a batch validated but not yet stored: the view the next update of the batch is checked against. */
class Staged {
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

/** Resolves after the I/O callbacks of the current event-loop turn (the other messages of the turn) have run. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class Room {
  readonly peers = new Set<Peer>();
  /** Entries per Yjs client; index = clock. */
  private readonly byClient = new Map<number, LogEntry[]>();
  private readonly keys = new Set<string>();
  private readonly awareness = new Map<number, AwarenessState>();
  private entryCount = 0;
  /** Bytes of entry values in the room (for the room quota). */
  private valueBytes = 0;
  /** Connections whose answer to a sync step 1 is still streaming. */
  private readonly answering = new Set<Peer>();
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
  private tail: Promise<void> = Promise.resolve();
  /** The messages of the last queued task while it has not started: later messages join it (a batch). */
  private open: Received[] | null = null;
  /** Updates of the running batch validated and not yet stored. */
  private staged = new Staged();

  constructor(
    readonly name: string,
    private readonly store: RelayStore,
    private readonly metrics: RelayMetrics,
    private readonly limits: RoomLimits,
    private readonly usage: StoreUsage,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** Resolves when every task queued so far has run. */
  idle(): Promise<void> {
    return this.tail;
  }

  private enqueue(task: () => void | Promise<void>): void {
    // Whatever comes after this task must not join a batch queued before it.
    this.open = null;
    this.tail = this.tail.then(task).catch((err: unknown) => this.log(`room ${this.name}: ${(err as Error).message}`));
  }

  /** Loads the room from the store once; false (and the room stays unloaded, to retry later) if the store fails. */
  private async ensureLoaded(): Promise<boolean> {
    if (this.loaded) return true;
    try {
      const { entries, cursor } = await this.store.load(this.name);
      for (const e of entries) this.remember(e);
      this.cursor = cursor;
      this.loaded = true;
      return true;
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) this.log(`room ${this.name}: cannot load: ${(err as Error).message}`);
      this.reset();
      return false;
    }
  }

  /** Forgets a partial load, so the next join loads the room again from the start. */
  private reset(): void {
    this.byClient.clear();
    this.keys.clear();
    this.entryCount = 0;
    this.valueBytes = 0;
  }

  get size(): number {
    return this.entryCount;
  }

  /** True while the room has connections or joins still queued: it must not be unloaded. */
  get busy(): boolean {
    return this.peers.size > 0 || this.joining > 0;
  }

  join(peer: Peer, now = Date.now()): void {
    this.joining++;
    this.enqueue(async () => {
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
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, MESSAGE_SYNC);
    encoding.writeVarUint(e, SYNC_STEP1);
    encoding.writeVarUint8Array(e, this.stateVector());
    peer.send(encoding.toUint8Array(e));
    for (const states of this.awarenessUpdates([...this.awareness.keys()])) peer.send(states);
  }

  leave(peer: Peer): void {
    this.enqueue(() => this.forget(peer));
  }

  private forget(peer: Peer): void {
    this.answering.delete(peer);
    if (!this.peers.delete(peer)) return;
    const gone: number[] = [];
    for (const [client, s] of this.awareness) {
      if (s.owner !== peer || s.state === 'null') continue;
      s.clock++;
      s.state = 'null';
      s.owner = null;
      gone.push(client);
    }
    for (const message of this.awarenessUpdates(gone)) this.broadcast(message, null);
    for (const client of gone) this.awareness.delete(client);
    if (!this.busy) this.idleSince = Date.now();
  }

  /**
   * Queues one message from a peer, in the batch of this turn (see the header); malformed framing refuses the peer
   * with 'bad-message'.
   */
  receive(peer: Peer, message: Uint8Array): void {
    let batch = this.open;
    if (batch === null) {
      const queued: Received[] = [];
      this.enqueue(async () => {
        // Let the rest of this turn's messages join before the batch closes.
        await nextTurn();
        if (this.open === queued) this.open = null;
        await this.handleBatch(queued);
      });
      batch = this.open = queued;
    }
    batch.push({ peer, message });
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
        this.stage(peer, update);
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
      for (const states of this.awarenessUpdates([...this.awareness.keys()])) peer.send(states);
      return;
    }
    peer.refuse('bad-message');
  }

  /** Validates an update against the room as the earlier updates of the batch left it, and stages its entries. */
  private stage(peer: Peer, update: Uint8Array): void {
    const staged = this.staged;
    const verdict = validateUpdate(update, this.view, this.limits.maxValueBytes);
    if (!verdict.ok) return peer.refuse(verdict.reason);
    const { entries, duplicates, gap } = verdict;
    if (entries.length > 0) {
      const bytes = entries.reduce((n, e) => n + e.value.length, 0);
      // Quotas count entry value bytes: what a writer controls and what the store must keep.
      if (this.valueBytes + staged.bytes + bytes > this.limits.roomQuotaBytes) return peer.refuse('room-quota');
      if (this.usage.bytes + staged.bytes + bytes > this.limits.diskQuotaBytes) return peer.refuse('disk-quota');
      staged.bytes += bytes;
      for (const e of entries) {
        staged.entries.push({ ...e, value: e.value.slice() });
        staged.senders.push(peer);
        staged.next.set(e.client, e.clock + 1);
        staged.keys.add(e.key);
      }
      // Forward the client's own bytes when they were accepted whole and are small (and alone in the batch).
      staged.whole = ++staged.updates === 1 && duplicates === 0 && !gap && update.length <= this.limits.syncChunkBytes ? { peer, update } : null;
    }
    this.metrics.updatesAccepted++;
    // Items past a gap: ask the client for everything this relay lacks (it answers with a sync step 2).
    if (gap) staged.gaps.add(peer);
  }

  /** Stores the staged entries in one append and forwards them; then answers the staged gaps. */
  private async flush(): Promise<void> {
    const staged = this.staged;
    if (staged.empty) return;
    this.staged = new Staged();
    if (staged.entries.length > 0) await this.commit(staged);
    for (const peer of staged.gaps) if (this.peers.has(peer) && !peer.refused) peer.send(syncMessage(SYNC_STEP1, this.stateVector()));
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
      if (this.metrics.writesFailing === 0) this.log(`store write failed (${(err as Error).message}); refusing writes until one succeeds`);
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
        for (const e of entries) this.remember(e);
        this.cursor = result.cursor;
        if (staged.whole) this.broadcast(syncMessage(SYNC_UPDATE, staged.whole.update), staged.whole.peer);
        else this.forwardBatch(entries, senders);
      } else {
        // Other processes appended first: read everything back in cursor order, this batch's entries included.
        const senderOf = new Map<string, Peer>();
        entries.forEach((e, i) => senderOf.set(e.key, senders[i]));
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
    this.enqueue(async () => {
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
        if (this.keys.has(e.key)) continue;
        // Clocks stay consecutive in cursor order; anything else would be a second item at a taken Yjs id: skip it.
        if (e.clock !== (this.byClient.get(e.client)?.length ?? 0)) continue;
        this.remember(e);
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

  private *chunks(entries: Iterable<LogEntry>): Generator<LogEntry[]> {
    let chunk: LogEntry[] = [];
    let bytes = 0;
    for (const e of entries) {
      const size = e.value.length + e.key.length + 16;
      if (chunk.length > 0 && (bytes + size > this.limits.syncChunkBytes || chunk.length >= this.limits.syncChunkEntries)) {
        yield chunk;
        chunk = [];
        bytes = 0;
      }
      chunk.push(e);
      bytes += size;
    }
    if (chunk.length > 0) yield chunk;
  }

  /**
   * Sends what the peer's state vector lacks: update messages of bounded size, the last part as sync step 2, one
   * part at a time (see the header). Entry lists only grow, so the ranges taken now stay valid while streaming.
   */
  private answerStep1(peer: Peer, encodedSv: Uint8Array): void {
    const sv = decodeStateVector(encodedSv);
    // Covered by the answer still streaming, so free: a node asks again on every clock gap, and updates broadcast
    // meanwhile arrive ahead of the parts that precede them.
    if (this.answering.has(peer)) return;
    if (!peer.take('sync-step1')) return peer.refuse('sync-rate-limit');
    const ranges: [LogEntry[], number, number][] = [];
    for (const [client, list] of this.byClient) {
      const from = sv.get(client) ?? 0;
      if (from < list.length) ranges.push([list, from, list.length]);
    }
    const missing = function* () {
      for (const [list, from, to] of ranges) for (let clock = from; clock < to; clock++) yield list[clock];
    };
    const parts = this.chunks(missing());
    let next = parts.next();
    this.answering.add(peer);
    const pump = (): void => {
      if (!this.answering.has(peer) || peer.refused) return void this.answering.delete(peer);
      const part = next.done ? [] : next.value;
      next = parts.next();
      if (next.done) {
        this.answering.delete(peer);
        return peer.send(syncMessage(SYNC_STEP2, encodeEntries(part)));
      }
      if (!peer.stream(syncMessage(SYNC_UPDATE, encodeEntries(part)), pump)) this.answering.delete(peer);
    };
    pump();
  }

  /** Keeps the latest state per awareness client (opaque JSON text) and forwards the message to every connection. */
  private applyAwareness(peer: Peer, message: Uint8Array, update: Uint8Array): void {
    if (update.length > this.limits.maxAwarenessBytes) {
      this.log(`room ${this.name}: awareness update of ${update.length} bytes refused (limit ${this.limits.maxAwarenessBytes})`);
      return peer.refuse('awareness-oversize');
    }
    // Over the rate the update is dropped, not the connection: a burst of presence must not cut a node off, and
    // clients renew their state every 10-15 s anyway.
    if (!peer.take('awareness')) return this.metrics.refuse('awareness-rate-limit');
    const d = decoding.createDecoder(update);
    const n = decoding.readVarUint(d);
    if (n > update.length) return peer.refuse('bad-message');
    const now = Date.now();
    for (let i = 0; i < n; i++) {
      const client = decoding.readVarUint(d);
      const clock = decoding.readVarUint(d);
      const state = decoding.readVarString(d);
      const current = this.awareness.get(client);
      const currentClock = current?.clock ?? 0;
      if (current === undefined && this.awareness.size >= MAX_AWARENESS_STATES) continue;
      if (currentClock < clock || (currentClock === clock && state === 'null' && current !== undefined && current.state !== 'null')) {
        this.awareness.set(client, { clock, state, updated: now, owner: current?.owner ?? peer });
      }
    }
    // Back to the sender too: harmless (its own clock is not newer) and keeps a lone client's connection alive.
    this.broadcast(message, null);
  }

  /** Drops awareness states not renewed within AWARENESS_TIMEOUT_MS (memory bound; clients time out on their own). */
  expireAwareness(now = Date.now()): void {
    for (const [client, s] of this.awareness) if (now - s.updated > AWARENESS_TIMEOUT_MS) this.awareness.delete(client);
  }

  /** Awareness messages carrying these clients' states, each of at most about maxAwarenessBytes. */
  private *awarenessUpdates(clients: number[]): Generator<Uint8Array> {
    for (let i = 0; i < clients.length; ) {
      const part: AwarenessState[] = [];
      const ids: number[] = [];
      let bytes = 0;
      for (; i < clients.length; i++) {
        const s = this.awareness.get(clients[i])!;
        if (part.length > 0 && bytes + s.state.length > this.limits.maxAwarenessBytes) break;
        part.push(s);
        ids.push(clients[i]);
        bytes += s.state.length + 16;
      }
      const inner = encoding.createEncoder();
      encoding.writeVarUint(inner, part.length);
      part.forEach((s, j) => {
        encoding.writeVarUint(inner, ids[j]);
        encoding.writeVarUint(inner, s.clock);
        encoding.writeVarString(inner, s.state);
      });
      const e = encoding.createEncoder();
      encoding.writeVarUint(e, MESSAGE_AWARENESS);
      encoding.writeVarUint8Array(e, encoding.toUint8Array(inner));
      yield encoding.toUint8Array(e);
    }
  }

  private broadcast(message: Uint8Array, except: Peer | null): void {
    for (const peer of this.peers) if (peer !== except) peer.send(message);
  }

  /** The room as the validator sees it: what is remembered, and what the running batch has staged. */
  private readonly view = {
    clock: (client: number): number => this.staged.next.get(client) ?? this.byClient.get(client)?.length ?? 0,
    hasKey: (key: string): boolean => this.keys.has(key) || this.staged.keys.has(key),
  };

  private remember(e: LogEntry): void {
    let list = this.byClient.get(e.client);
    if (!list) this.byClient.set(e.client, (list = []));
    if (e.clock !== list.length) throw new Error(`relay storage: room ${this.name} has a clock gap for client ${e.client}`);
    list.push(e);
    this.keys.add(e.key);
    this.entryCount++;
    this.valueBytes += e.value.length;
  }

  private stateVector(): Uint8Array {
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, this.byClient.size);
    for (const [client, list] of this.byClient) {
      encoding.writeVarUint(e, client);
      encoding.writeVarUint(e, list.length);
    }
    return encoding.toUint8Array(e);
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

export function syncMessage(step: number, payload: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MESSAGE_SYNC);
  encoding.writeVarUint(e, step);
  encoding.writeVarUint8Array(e, payload);
  return encoding.toUint8Array(e);
}

/** The Yjs update a sync step 2 or update message carries; null for any other message; throws on bad framing. */
function updatePayload(message: Uint8Array): Uint8Array | null {
  const d = decoding.createDecoder(message);
  if (decoding.readVarUint(d) !== MESSAGE_SYNC) return null;
  const step = decoding.readVarUint(d);
  if (step !== SYNC_STEP2 && step !== SYNC_UPDATE) return null;
  return decoding.readVarUint8Array(d);
}

/** Decodes a Yjs state vector (varuint n, n × {varuint client, varuint clock}); throws on malformed input. */
function decodeStateVector(bytes: Uint8Array): Map<number, number> {
  const d = decoding.createDecoder(bytes);
  const n = decoding.readVarUint(d);
  if (n > bytes.length) throw new Error('bad state vector');
  const sv = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const client = decoding.readVarUint(d);
    sv.set(client, decoding.readVarUint(d));
  }
  return sv;
}
