/**
 * A dormant channel: one with nothing to do, kept linked to its relay rooms without being loaded. It holds no
 * document, no ingest state and no awareness, only each linked epoch's key and state vector as stored when it went
 * dormant (node/store.ts `saveDormant`). Most of a node's channels are like this most of the time, so a node in
 * thousands of channels costs little memory and starts at once (docs/DESIGN-NOTES.md "Dormant channels").
 *
 * Each room speaks just enough of the sync protocol to learn that nothing changed: it sends its state vector, and
 * answers the relay's with an empty update when the relay has everything. Anything else wakes the channel (the node
 * opens it in full and the full channel syncs again): an update with anything new, a relay lacking something of
 * ours, a peer's presence, or a message it cannot read. Waking is cheap to get wrong in one direction only: a
 * channel woken for nothing costs a load; one that stayed dormant wrongly would miss events, so any doubt wakes.
 */
import * as Y from 'yjs';
import * as syncProtocol from 'y-protocols/sync';
import * as decoding from 'lib0/decoding';
import { encodeEntries } from '../protocol/log-update.js';
import type { RelayConnection, RelayPool } from './relay-connection.js';
import type { RelayState } from './replica.js';
import { MESSAGE_AWARENESS, MESSAGE_SYNC, RoomEndpoint } from './room-endpoint.js';
import type { ChannelRow, DormantEpoch } from './store.js';

const EMPTY_UPDATE = encodeEntries([]);

/** The update adds something to a document at `sv`: an item past its clock, or any deletion. */
export function updateAddsTo(update: Uint8Array, sv: Map<number, number>): boolean {
  // The usual answer when nothing changed: no structs, no deletions.
  if (update.length === 2 && update[0] === 0 && update[1] === 0) return false;
  const { to } = Y.parseUpdateMeta(update);
  for (const [client, clock] of to) if (clock > (sv.get(client) ?? 0)) return true;
  // Entries are never overwritten by honest nodes, so deletions are rare: checking them costs a full decode.
  return Y.decodeUpdate(update).ds.clients.size > 0;
}

/** Every client `ours` has items of is covered by `theirs` (the relay holds all we do). */
export function covers(theirs: Map<number, number>, ours: Map<number, number>): boolean {
  for (const [client, clock] of ours) if ((theirs.get(client) ?? 0) < clock) return false;
  return true;
}

/** An awareness update carries someone's state (not only removals). */
export function carriesPresence(update: Uint8Array): boolean {
  const d = decoding.createDecoder(update);
  const n = decoding.readVarUint(d);
  for (let i = 0; i < n; i++) {
    decoding.readVarUint(d);
    decoding.readVarUint(d);
    if (decoding.readVarString(d) !== 'null') return true;
  }
  return false;
}

/** One epoch's room on one relay, for a dormant channel. */
export class DormantLink extends RoomEndpoint {
  constructor(
    connection: RelayConnection,
    epochKey: Uint8Array,
    private readonly sv: Uint8Array,
    private readonly wake: (why: string) => void,
  ) {
    super(connection, epochKey);
    connection.attach(this);
  }

  opened(): void {
    this.live = true;
    this.sendSync(syncProtocol.messageYjsSyncStep1, this.sv);
  }

  receive(message: Uint8Array): void {
    if (this.destroyed) return;
    try {
      const why = this.read(message);
      if (why) this.wake(why);
    } catch {
      this.wake('an unreadable message');
    }
  }

  /** Reads one relay message; returns why the channel must wake, or null. */
  private read(message: Uint8Array): string | null {
    const d = decoding.createDecoder(message);
    const type = decoding.readVarUint(d);
    if (type === MESSAGE_AWARENESS) return carriesPresence(decoding.readVarUint8Array(d)) ? 'a peer is present' : null;
    if (type !== MESSAGE_SYNC) return null;
    const step = decoding.readVarUint(d);
    const payload = decoding.readVarUint8Array(d);
    const ours = Y.decodeStateVector(this.sv);
    if (step === syncProtocol.messageYjsSyncStep1) {
      if (!covers(Y.decodeStateVector(payload), ours)) return 'the relay lacks events of ours';
      this.sendSync(syncProtocol.messageYjsSyncStep2, EMPTY_UPDATE);
      return null;
    }
    if (step !== syncProtocol.messageYjsSyncStep2 && step !== syncProtocol.messageYjsUpdate)
      return 'an unknown message';
    if (updateAddsTo(payload, ours)) return 'new events';
    if (step === syncProtocol.messageYjsSyncStep2) this.setSynced(true);
    return null;
  }
}

/**
 * A channel linked to its rooms but not loaded. A room that must wake it calls `onWake`: the node closes it and opens
 * the channel in full (a second room waking it meanwhile finds it gone).
 */
export class DormantChannel {
  private readonly links: { ep: number; link: DormantLink }[] = [];

  constructor(
    readonly row: ChannelRow,
    epochs: (DormantEpoch & { key: Uint8Array })[],
    pool: RelayPool,
    onWake: (ch: string) => void,
  ) {
    for (const { ep, key, sv } of epochs) {
      for (const url of row.relays)
        this.links.push({ ep, link: new DormantLink(pool.connection(url), key, sv, () => onWake(row.ch)) });
    }
  }

  /** The current epoch's rooms, as a channel's `relays()` shows them. */
  relays(): RelayState[] {
    return this.links
      .filter((l) => l.ep === this.row.epoch)
      .map(({ link }) => ({
        url: link.url,
        connected: link.connected,
        synced: link.synced,
        ...(link.refusal ? { refused: link.refusal } : {}),
      }));
  }

  /** Leaves every room. */
  close(): void {
    for (const { link } of this.links) link.destroy();
    this.links.length = 0;
  }
}
