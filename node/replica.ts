/**
 * One epoch's replica of a channel document: a Y.Doc whose `log` map holds sealed events, persisted in the local
 * store and synced through one room link per relay (node/room-link.ts, all sharing the doc and one awareness), each
 * over the node's one connection to that relay.
 *
 * Every update the doc sees (local post or from a relay) is written to the store, in the owner's transaction together
 * with the deliveries it carries (`flushUpdates`); updates written by other processes on the same profile are pulled
 * in by `pollStore()`. New log keys are handed to `onEntries`.
 *
 * What a relay sends is checked before it reaches the doc (node/relay-guard.ts): a refused update is dropped, so it
 * is neither applied, stored nor forwarded to the other relays, and is counted per relay and reason (`refusals()`).
 */
import * as Y from 'yjs';
import { Awareness, outdatedTimeout, removeAwarenessStates } from 'y-protocols/awareness';
import { randomBytes } from 'node:crypto';
import { encodeEntries, type RefusalReason } from '../protocol/log-update.js';
import type { RelayPool } from './relay-connection.js';
import { RoomLink } from './room-link.js';
import type { LocalStore } from './store.js';

const FROM_STORE = Symbol('from-store');
/** This node's own events, already stored by `put`. */
const STORED = Symbol('stored');
/** Merge a document's stored updates into one row once it has this many. */
const COMPACT_AFTER_ROWS = 500;
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
  private readonly links = new Map<string, RoomLink>();
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
    private readonly pool: RelayPool,
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
    // y-protocols runs a 3 s timer per Awareness; with a thousand channels that is a thousand timers. The node's one
    // tick calls `expirePresence` instead, and the channel renews its own state (node/channel/presence.ts `heartbeat`).
    clearInterval((this.awareness as unknown as { _checkInterval: NodeJS.Timeout })._checkInterval);
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === FROM_STORE || origin === STORED || this.closed) return;
      this.pending.push(update);
      this.onPending();
    });
    this.log.observe((event, tx) => {
      const relay = tx.origin instanceof RoomLink ? tx.origin.url : null;
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

  /** Links the room on each relay (over the node's connection to it); relays no longer listed are let go. */
  connect(relays: string[]): void {
    for (const url of relays) {
      if (this.links.has(url) || this.closed) continue;
      const link = new RoomLink(
        this.pool.connection(url),
        this.key,
        this.doc,
        this.awareness,
        (reason) => this.refuse(url, reason),
        (limit) => this.onLimited(url, limit),
      );
      this.links.set(url, link);
    }
    for (const [url, link] of this.links) {
      if (relays.includes(url)) continue;
      link.destroy();
      this.links.delete(url);
    }
  }

  /** Leaves every relay room of this epoch (the document and its store stay). */
  disconnect(): void {
    this.connect([]);
  }

  /** Drops peers' awareness states not renewed within y-protocols' timeout (what its per-instance timer did). */
  expirePresence(now = Date.now()): void {
    const stale: number[] = [];
    for (const [client, meta] of this.awareness.meta) {
      if (
        client !== this.doc.clientID &&
        now - meta.lastUpdated >= outdatedTimeout &&
        this.awareness.states.has(client)
      )
        stale.push(client);
    }
    if (stale.length > 0) removeAwarenessStates(this.awareness, stale, 'timeout');
  }

  /** Peers' awareness states are present (someone else is in the room). */
  hasPeers(): boolean {
    for (const client of this.awareness.states.keys()) if (client !== this.doc.clientID) return true;
    return false;
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
    return [...this.links.entries()].map(([url, p]) => ({
      url,
      connected: p.connected,
      synced: p.synced,
      ...(Number.isFinite(p.valueLimit) ? { value_limit: p.valueLimit } : {}),
      ...(p.refusal ? { refused: p.refusal } : {}),
    }));
  }

  isSynced(): boolean {
    return [...this.links.values()].some((p) => p.synced);
  }

  /** Resolves true once any relay finished its initial sync, false after `timeoutMs`. */
  waitSynced(timeoutMs: number): Promise<boolean> {
    if (this.isSynced()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        for (const p of this.links.values()) p.off('sync', onSync);
        resolve(ok);
      };
      const onSync = (state: boolean) => state && done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      for (const p of this.links.values()) p.on('sync', onSync);
    });
  }

  maybeCompact(): void {
    if (this.rowsSinceCompact < COMPACT_AFTER_ROWS || this.store.docUpdateCount(this.ch, this.ep) < COMPACT_AFTER_ROWS)
      return;
    this.rowsSinceCompact = 0;
    const merged = Y.encodeStateAsUpdate(this.doc);
    this.store.compactDoc(this.ch, this.ep, this.writer, merged, this.lastRow);
    this.lastRow = Math.max(this.lastRow, this.store.docUpdatesSince(this.ch, this.ep, 0).at(-1)?.row ?? 0);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.links.values()) p.destroy();
    this.links.clear();
    this.awareness.destroy();
    this.doc.destroy();
  }
}
