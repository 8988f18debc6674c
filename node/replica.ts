/**
 * One epoch's replica of a channel document: a Y.Doc whose `log` map holds sealed events, persisted in the local
 * store and synced through one y-websocket provider per relay (all sharing the doc and one awareness).
 *
 * Every update the doc sees (local post or from a relay) is written to the store, in the owner's transaction together
 * with the deliveries it carries (`flushUpdates`); updates written by other processes on the same profile are pulled
 * in by `pollStore()`. New log keys are handed to `onEntries`.
 *
 * What a relay sends is checked before it reaches the doc (node/relay-guard.ts): a refused update is dropped, so it
 * is neither applied, stored nor forwarded to the other relays, and is counted per relay and reason (`refusals()`).
 */
import * as Y from 'yjs';
import { Awareness } from 'y-protocols/awareness';
import { WebsocketProvider, messageSync } from 'y-websocket';
import * as syncProtocol from 'y-protocols/sync';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import WebSocket from 'ws';
import { randomBytes } from 'node:crypto';
import { relayAuthParams } from '../protocol/keys.js';
import { encodeEntries, parseLogUpdate, type LogEntry, type RefusalReason } from '../protocol/log-update.js';
import { checkRelayUpdate, docView } from './relay-guard.js';
import type { LocalStore } from './store.js';

const FROM_STORE = Symbol('from-store');
/** This node's own events, already stored by `put`. */
const STORED = Symbol('stored');
/** Merge a document's stored updates into one row once it has this many. */
const COMPACT_AFTER_ROWS = 500;
const MAX_BACKOFF_MS = 3000;
/** The relay's close code for a refused update (relay/server.ts). */
const REFUSED_CODE = 4400;
/** WebSocket close code 1013, "try again later": the relay's store is away. */
const TRY_AGAIN_LATER = 1013;
/** Own entries larger than this are written under a Yjs client of their own (see `put`). */
export const ISOLATE_BYTES = 8 * 1024;

/** A random Yjs client id (31 bits, as Yjs makes them) other than `taken`. */
function newClientId(taken: number): number {
  let id: number;
  do id = randomBytes(4).readUInt32LE(0) >>> 1;
  while (id === taken);
  return id;
}

export interface ReplicaEntry {
  key: string;
  value: Uint8Array;
  relay: string | null;
}

export interface RelayState {
  url: string;
  /** The socket is open (it may still be refused: see `refused`). */
  connected: boolean;
  synced: boolean;
  value_limit?: number;
  /** The relay's last refusal of this room (close code and reason), until a sync succeeds again. */
  refused?: string;
}

export interface RelayRefusal {
  relay: string;
  reason: RefusalReason;
  count: number;
}

export class EpochReplica {
  readonly doc = new Y.Doc();
  readonly log: Y.Map<Uint8Array>;
  readonly awareness: Awareness;
  readonly room: string;
  private readonly providers = new Map<string, AuthedProvider>();
  private lastRow = 0;
  private rowsSinceCompact = 0;
  private closed = false;
  private readonly pending: Uint8Array[] = [];
  /**
   * The next clock under `writerClient`. Only `put` writes under that client (it is new with this replica), and the
   * document sees a put only after its commit, so this is counted here rather than read from the document.
   */
  private nextLocalClock = 0;
  /**
   * The Yjs client id our events are written under. Not the document's own clientID: an applied update carrying
   * that id makes Yjs pick a new one for the document, and every post would then start a new client.
   */
  private readonly writerClient: number;
  /** Refused relay updates, by relay URL and reason. */
  private readonly refused = new Map<string, RelayRefusal>();

  constructor(
    private readonly store: LocalStore,
    readonly ch: string,
    readonly ep: number,
    private readonly key: Uint8Array,
    private readonly writer: string,
    private readonly onEntries: (entries: ReplicaEntry[]) => void,
    /** Called when something waits to be written: the owner calls `flushUpdates()` soon, in its transaction. */
    private readonly onPending: () => void = () => undefined,
    /** Called for each relay update refused and dropped. */
    private readonly onRefused: (relay: string, reason: RefusalReason) => void = () => undefined,
    /** Called when a relay refused one of our updates for its size, with the value limit now applied to it. */
    private readonly onLimited: (relay: string, limit: number) => void = () => undefined,
  ) {
    this.log = this.doc.getMap('log');
    this.writerClient = newClientId(this.doc.clientID);
    this.awareness = new Awareness(this.doc);
    this.room = relayAuthParams(key).room;
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === FROM_STORE || origin === STORED || this.closed) return;
      this.pending.push(update);
      this.onPending();
    });
    this.log.observe((event, tx) => {
      const relay = tx.origin instanceof WebsocketProvider ? tx.origin.serverUrl : null;
      const entries: ReplicaEntry[] = [];
      for (const key of event.keysChanged) {
        const value = this.log.get(key);
        if (value instanceof Uint8Array) entries.push({ key, value, relay });
      }
      if (entries.length > 0) this.onEntries(entries);
    });
  }

  /**
   * Writes the document updates seen since the last call. The channel calls this in the same transaction as the
   * deliveries they carry, so a long initial sync is stored in a few large transactions rather than one per message.
   */
  flushUpdates(): void {
    for (const update of this.pending.splice(0)) this.save(update);
  }

  private save(update: Uint8Array): void {
    this.lastRow = Math.max(this.lastRow, this.store.addDocUpdate(this.ch, this.ep, this.writer, update));
    this.rowsSinceCompact++;
  }

  /** Loads everything stored for this epoch (all writers). */
  load(): void {
    this.pollStore(true);
  }

  /** Applies updates that other processes on this profile stored since the last poll. */
  pollStore(all = false): void {
    const rows = this.store.docUpdatesSince(this.ch, this.ep, this.lastRow);
    if (rows.length === 0) return;
    const foreign = rows.filter((r) => all || r.writer !== this.writer).map((r) => r.data);
    this.lastRow = rows[rows.length - 1].row;
    if (foreign.length > 0) Y.applyUpdate(this.doc, Y.mergeUpdates(foreign), FROM_STORE);
  }

  /**
   * Adds one of this node's own events, write-ahead: the Yjs update that adds it is built and stored now (inside
   * the caller's transaction), and applied to the document, which is what sends it to the relays, only once that
   * transaction has committed. A failed commit therefore sends nothing, and a crash after it loses nothing: the
   * stored update is loaded and synced at the next start.
   */
  put(id: string, sealed: Uint8Array): void {
    // A large entry gets a Yjs client of its own: a relay that refuses it for its size (smaller limits than ours)
    // then blocks nothing after it, since a relay takes each client's items in order only.
    const isolated = sealed.length > ISOLATE_BYTES;
    const client = isolated ? newClientId(this.doc.clientID) : this.writerClient;
    const clock = isolated ? 0 : this.nextLocalClock;
    const update = encodeEntries([{ client, clock, key: id, value: sealed }]);
    this.save(update);
    if (!isolated) this.nextLocalClock++;
    this.store.afterCommit(() => {
      if (!this.closed) Y.applyUpdate(this.doc, update, STORED);
    });
  }

  has(id: string): boolean {
    return this.log.has(id);
  }

  connect(relays: string[]): void {
    for (const url of relays) {
      if (this.providers.has(url)) continue;
      const provider = new AuthedProvider(this.key, (reason) => this.refuse(url, reason), (limit) => this.onLimited(url, limit), url, this.room, this.doc, {
        WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
        disableBc: true,
        awareness: this.awareness,
        maxBackoffTime: MAX_BACKOFF_MS,
        connect: false,
      });
      // Reconnect whatever the close code: a refusal may be transient (rate limit) and the relay may come back.
      provider.shouldReconnect = () => true;
      this.providers.set(url, provider);
      provider.connect();
    }
  }

  private refuse(relay: string, reason: RefusalReason): void {
    if (this.closed) return;
    const key = `${reason} ${relay}`;
    const r = this.refused.get(key);
    if (r) r.count++;
    else this.refused.set(key, { relay, reason, count: 1 });
    this.onRefused(relay, reason);
  }

  /** Relay updates refused so far (this process), by relay and reason. */
  refusals(): RelayRefusal[] {
    return [...this.refused.values()].map((r) => ({ ...r }));
  }

  relays(): RelayState[] {
    return [...this.providers.entries()].map(([url, p]) => ({
      url, connected: p.wsconnected, synced: p.synced,
      ...(Number.isFinite(p.valueLimit) ? { value_limit: p.valueLimit } : {}),
      ...(p.refusal ? { refused: p.refusal } : {}),
    }));
  }

  isSynced(): boolean {
    return [...this.providers.values()].some((p) => p.synced);
  }

  /** Resolves true once any relay finished its initial sync, false after `timeoutMs`. */
  waitSynced(timeoutMs: number): Promise<boolean> {
    if (this.isSynced()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        for (const p of this.providers.values()) p.off('sync', onSync);
        resolve(ok);
      };
      const onSync = (state: boolean) => state && done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      for (const p of this.providers.values()) p.on('sync', onSync);
    });
  }

  maybeCompact(): void {
    if (this.rowsSinceCompact < COMPACT_AFTER_ROWS || this.store.docUpdateCount(this.ch, this.ep) < COMPACT_AFTER_ROWS) return;
    this.rowsSinceCompact = 0;
    const merged = Y.encodeStateAsUpdate(this.doc);
    this.store.compactDoc(this.ch, this.ep, this.writer, merged, this.lastRow);
    this.lastRow = Math.max(this.lastRow, this.store.docUpdatesSince(this.ch, this.ep, 0).at(-1)?.row ?? 0);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.providers.values()) p.destroy();
    this.providers.clear();
    this.awareness.destroy();
    this.doc.destroy();
  }
}

/**
 * A provider whose URL carries fresh relay auth (y-websocket reads `url` on every (re)connect), and whose sync
 * messages go through the relay guard: the stock handler (y-protocols `readSyncMessage`) applies any update as is.
 */
class AuthedProvider extends WebsocketProvider {
  constructor(
    private readonly epochKey: Uint8Array,
    onRefused: (reason: RefusalReason) => void,
    onLimited: (limit: number) => void,
    ...args: ConstructorParameters<typeof WebsocketProvider>
  ) {
    super(...args);
    const view = docView(this.doc, this.doc.getMap('log'));
    this.messageHandlers[messageSync] = (encoder, decoder, provider, emitSynced) => {
      encoding.writeVarUint(encoder, messageSync);
      let step: number;
      let update: Uint8Array;
      try {
        step = decoding.readVarUint(decoder);
        if (step === syncProtocol.messageYjsSyncStep1) {
          const answer = Y.encodeStateAsUpdate(provider.doc, decoding.readVarUint8Array(decoder));
          encoding.writeVarUint(encoder, syncProtocol.messageYjsSyncStep2);
          encoding.writeVarUint8Array(encoder, this.outgoing(answer) ?? encodeEntries([]));
          return;
        }
        if (step !== syncProtocol.messageYjsSyncStep2 && step !== syncProtocol.messageYjsUpdate) return onRefused('undecodable');
        update = decoding.readVarUint8Array(decoder);
      } catch {
        // Stock y-protocols would throw out of the socket's message handler.
        return onRefused('undecodable');
      }
      const check = checkRelayUpdate(update, view);
      if (!check.ok) return onRefused(check.reason);
      if (check.apply) {
        try {
          Y.applyUpdate(provider.doc, check.apply, provider);
        } catch (error) {
          // As y-protocols does: an observer's error must not break the connection.
          console.error('Caught error while handling a Yjs update', error);
        }
      }
      if (check.gap) syncProtocol.writeSyncStep1(encoder, provider.doc);
      // A refused step 2 never marks the provider synced: that relay has not given a usable state.
      if (emitSynced && step === syncProtocol.messageYjsSyncStep2 && !provider.synced) provider.synced = true;
    };
    // What we send goes through `outgoing`, so entries this relay refused for their size are not sent again.
    this.doc.off('update', this._updateHandler);
    this._updateHandler = (update: Uint8Array, origin: unknown) => {
      if (origin === this) return;
      const out = this.outgoing(update);
      if (!out) return;
      const enc = encoding.createEncoder();
      encoding.writeVarUint(enc, messageSync);
      syncProtocol.writeUpdate(enc, out);
      if (this.wsconnected && this.ws) this.ws.send(encoding.toUint8Array(enc));
    };
    this.doc.on('update', this._updateHandler);
    this.on('connection-close', (event: CloseEvent | null) => {
      if (event?.code === REFUSED_CODE && event.reason === 'oversize') this.lowerLimit(onLimited);
      // A relay's refusal (auth, limits, quotas, store trouble) stays shown until a sync succeeds again, so the
      // relay does not flicker to connected on every attempt it refuses.
      if (event && (event.code >= 4000 || event.code === TRY_AGAIN_LATER)) this.refusal = `${event.code} ${event.reason || 'refused'}`;
    });
    this.on('sync', (synced: boolean) => {
      if (synced) this.refusal = null;
    });
    // y-websocket adds a process 'exit' listener per provider (to clear its presence): with hundreds of rooms that is
    // a MaxListenersExceededWarning. Peers drop a silent presence on their own after its timeout.
    if (typeof process !== 'undefined') process.off('exit', this._exitHandler);
  }

  /** Why this relay last refused us (close code and reason), until a sync succeeds; null if it has not. */
  refusal: string | null = null;

  /** Largest `log` value this relay is sent; lowered each time it refuses one of ours for its size. */
  valueLimit = Infinity;

  /**
   * This relay refused an update for its size: it takes less than we sent. Nothing here knows its limit, so it is
   * set just below the largest value in the document under the current one; a relay with a lower limit refuses
   * again and the limit steps down, until what is sent fits. Entries above the limit stay with the other relays.
   */
  private lowerLimit(onLimited: (limit: number) => void): void {
    let largest = 0;
    for (const v of this.doc.getMap<Uint8Array>('log').values()) if (v.length < this.valueLimit && v.length > largest) largest = v.length;
    if (largest === 0) return;
    this.valueLimit = largest - 1;
    onLimited(this.valueLimit);
  }

  /** An update as this relay may be sent it: as is while it has no limit, else without the entries over it. */
  private outgoing(update: Uint8Array): Uint8Array | null {
    if (!Number.isFinite(this.valueLimit)) return update;
    const parsed = parseLogUpdate(update);
    if (!parsed.ok) return update;
    const blocked = new Set<number>();
    const keep: LogEntry[] = [];
    for (const item of parsed.items) {
      if ('skip' in item) continue;
      // A relay takes a client's items in order: after a held-back item, nothing more of that client can land.
      if (blocked.has(item.client) || item.value.length > this.valueLimit) blocked.add(item.client);
      else keep.push(item);
    }
    return keep.length > 0 ? encodeEntries(keep) : null;
  }

  override get url(): string {
    const { ts, sig } = relayAuthParams(this.epochKey);
    return `${this.serverUrl}/${this.roomname}?ts=${ts}&sig=${sig}`;
  }
}
