/**
 * The awareness (presence) states of one room: the latest state per awareness client, opaque JSON text to the
 * relay, never stored. Kept so a joining connection is greeted with everyone's state, and so a connection that goes
 * away is announced as gone for the states it sent.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import type { Peer } from './peer.js';
import { MESSAGE_AWARENESS } from './wire.js';

/** An awareness state is dropped if not renewed for this long (y-protocols clients renew every 15 s). */
export const AWARENESS_TIMEOUT_MS = 30_000;

/** Awareness states kept per room; further new clients are forwarded but not remembered. */
export const MAX_AWARENESS_STATES = 1024;

interface AwarenessState {
  clock: number;
  /** The state exactly as sent (JSON text, opaque to the relay); 'null' = removed. */
  state: string;
  updated: number;
  owner: Peer | null;
}

export class RoomAwareness {
  private readonly states = new Map<number, AwarenessState>();

  /** `maxBytes`: the size of one awareness message the relay builds (its limit on the ones it accepts). */
  constructor(private readonly maxBytes: number) {}

  /**
   * Keeps the newer states of an awareness update, owned by the peer that first sent each; false if its count is
   * impossible. Throws on bad framing.
   */
  apply(peer: Peer, update: Uint8Array): boolean {
    const d = decoding.createDecoder(update);
    const n = decoding.readVarUint(d);
    if (n > update.length) return false;
    const now = Date.now();
    for (let i = 0; i < n; i++) {
      const client = decoding.readVarUint(d);
      const clock = decoding.readVarUint(d);
      const state = decoding.readVarString(d);
      const current = this.states.get(client);
      const currentClock = current?.clock ?? 0;
      if (current === undefined && this.states.size >= MAX_AWARENESS_STATES) continue;
      if (
        currentClock < clock ||
        (currentClock === clock && state === 'null' && current !== undefined && current.state !== 'null')
      ) {
        this.states.set(client, { clock, state, updated: now, owner: current?.owner ?? peer });
      }
    }
    return true;
  }

  /** Removes the states a departed peer sent; returns the messages that tell the others they are gone. */
  release(peer: Peer): Uint8Array[] {
    const gone: number[] = [];
    for (const [client, s] of this.states) {
      if (s.owner !== peer || s.state === 'null') continue;
      s.clock++;
      s.state = 'null';
      s.owner = null;
      gone.push(client);
    }
    const messages = [...this.messages(gone)];
    for (const client of gone) this.states.delete(client);
    return messages;
  }

  /** Drops states not renewed within AWARENESS_TIMEOUT_MS (memory bound; clients time out on their own). */
  expire(now = Date.now()): void {
    for (const [client, s] of this.states) if (now - s.updated > AWARENESS_TIMEOUT_MS) this.states.delete(client);
  }

  /** Awareness messages carrying these clients' states (default: all), each of at most about `maxBytes`. */
  *messages(clients: number[] = [...this.states.keys()]): Generator<Uint8Array> {
    for (let i = 0; i < clients.length; ) {
      const part: AwarenessState[] = [];
      const ids: number[] = [];
      let bytes = 0;
      for (; i < clients.length; i++) {
        const s = this.states.get(clients[i])!;
        if (part.length > 0 && bytes + s.state.length > this.maxBytes) break;
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
}
