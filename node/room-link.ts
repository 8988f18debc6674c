/**
 * One epoch's room on one relay, spoken over the node's shared connection to that relay (node/relay-connection.ts):
 * the y-websocket client protocol (sync steps, updates, awareness) for one document, with what the relay sends
 * checked by the relay guard (node/relay-guard.ts) before it reaches the document — the stock handler
 * (y-protocols `readSyncMessage`) applies any update as is — and with what we send limited to what the relay takes.
 */
import * as Y from 'yjs';
import {
  applyAwarenessUpdate,
  encodeAwarenessUpdate,
  removeAwarenessStates,
  type Awareness,
} from 'y-protocols/awareness';
import * as syncProtocol from 'y-protocols/sync';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { encodeEntries, parseLogUpdate, type LogEntry, type RefusalReason } from '../protocol/log-update.js';
import { checkRelayUpdate, docView } from './relay-guard.js';
import type { RelayConnection } from './relay-connection.js';
import { MESSAGE_AWARENESS, MESSAGE_QUERY_AWARENESS, MESSAGE_SYNC, RoomEndpoint } from './room-endpoint.js';

/** The relay's close code and reason for an update refused for its size (relay/options.ts). */
const REFUSED_CODE = 4400;

export class RoomLink extends RoomEndpoint {
  /** Largest `log` value this relay is sent; lowered each time it refuses one of ours for its size. */
  valueLimit = Infinity;
  /** Awareness clients heard through this link: dropped when it goes, as y-websocket does for its socket. */
  private readonly heard = new Set<number>();
  private readonly view;

  constructor(
    connection: RelayConnection,
    epochKey: Uint8Array,
    readonly doc: Y.Doc,
    private readonly awareness: Awareness,
    private readonly onRefused: (reason: RefusalReason) => void,
    private readonly onLimited: (limit: number) => void,
  ) {
    super(connection, epochKey);
    this.view = docView(doc, doc.getMap('log'));
    doc.on('update', this.onDocUpdate);
    awareness.on('update', this.onAwarenessUpdate);
    connection.attach(this);
  }

  opened(): void {
    this.live = true;
    this.sendSync(syncProtocol.messageYjsSyncStep1, Y.encodeStateVector(this.doc));
    if (this.awareness.getLocalState() !== null) this.sendAwareness([this.doc.clientID]);
  }

  receive(message: Uint8Array): void {
    if (this.destroyed) return;
    let decoder: decoding.Decoder;
    let type: number;
    try {
      decoder = decoding.createDecoder(message);
      type = decoding.readVarUint(decoder);
    } catch {
      return this.onRefused('undecodable');
    }
    if (type === MESSAGE_SYNC) return this.onSync(decoder);
    if (type === MESSAGE_QUERY_AWARENESS) return this.sendAwareness([...this.awareness.getStates().keys()]);
    if (type !== MESSAGE_AWARENESS) return;
    try {
      // The clients it names are recorded in `heard` by onAwarenessUpdate (origin: this link).
      applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), this);
    } catch {
      // A malformed awareness update carries nothing; presence is checked (signed, sealed) where it is read.
    }
  }

  protected override onClosed(code: number, reason: string): void {
    if (code === REFUSED_CODE && reason === 'oversize') this.lowerLimit();
    const gone = [...this.heard];
    this.heard.clear();
    if (gone.length > 0) removeAwarenessStates(this.awareness, gone, this);
  }

  override destroy(): void {
    if (this.destroyed) return;
    this.doc.off('update', this.onDocUpdate);
    this.awareness.off('update', this.onAwarenessUpdate);
    super.destroy();
  }

  private sendAwareness(clients: number[]): void {
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, MESSAGE_AWARENESS);
    encoding.writeVarUint8Array(e, encodeAwarenessUpdate(this.awareness, clients));
    this.connection.send(this, encoding.toUint8Array(e));
  }

  private onSync(decoder: decoding.Decoder): void {
    let step: number;
    let update: Uint8Array;
    try {
      step = decoding.readVarUint(decoder);
      if (step === syncProtocol.messageYjsSyncStep1) {
        const answer = Y.encodeStateAsUpdate(this.doc, decoding.readVarUint8Array(decoder));
        return this.sendSync(syncProtocol.messageYjsSyncStep2, this.outgoing(answer) ?? encodeEntries([]));
      }
      if (step !== syncProtocol.messageYjsSyncStep2 && step !== syncProtocol.messageYjsUpdate)
        return this.onRefused('undecodable');
      update = decoding.readVarUint8Array(decoder);
    } catch {
      return this.onRefused('undecodable');
    }
    const check = checkRelayUpdate(update, this.view);
    if (!check.ok) return this.onRefused(check.reason);
    if (check.apply) {
      try {
        Y.applyUpdate(this.doc, check.apply, this);
      } catch (error) {
        // As y-protocols does: an observer's error must not break the connection.
        console.error('Caught error while handling a Yjs update', error);
      }
    }
    if (check.gap) this.sendSync(syncProtocol.messageYjsSyncStep1, Y.encodeStateVector(this.doc));
    // A refused step 2 never marks the room synced: that relay has not given a usable state.
    if (step === syncProtocol.messageYjsSyncStep2) this.setSynced(true);
  }

  private readonly onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === this || !this.connected) return;
    const out = this.outgoing(update);
    if (out) this.sendSync(syncProtocol.messageYjsUpdate, out);
  };

  private readonly onAwarenessUpdate = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void => {
    if (origin === this) {
      for (const client of [...added, ...updated]) if (client !== this.doc.clientID) this.heard.add(client);
      return;
    }
    if (this.connected) this.sendAwareness([...added, ...updated, ...removed]);
  };

  /**
   * This relay refused an update for its size: it takes less than we sent. Nothing here knows its limit, so it is
   * set just below the largest value in the document under the current one; a relay with a lower limit refuses
   * again and the limit steps down, until what is sent fits. Entries above the limit stay with the other relays.
   */
  private lowerLimit(): void {
    let largest = 0;
    for (const v of this.doc.getMap<Uint8Array>('log').values())
      if (v.length < this.valueLimit && v.length > largest) largest = v.length;
    if (largest === 0) return;
    this.valueLimit = largest - 1;
    this.onLimited(this.valueLimit);
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
}
