/**
 * The answers to sync step 1 still streaming. An answer is sent as update messages of bounded size followed by a
 * sync step 2 carrying the last part (a stock WebsocketProvider marks itself synced on step 2, after applying all
 * the earlier parts). It is streamed outside the room's queue, one part at a time, the next only once the previous
 * one has left the process (`Peer.stream`), so a client that does not read holds at most one part in the relay's
 * memory.
 */
import { encodeEntries, type LogEntry } from '../protocol/log-update.js';
import type { Peer } from './peer.js';
import { SYNC_STEP2, SYNC_UPDATE, syncMessage } from './wire.js';

export class SyncAnswers {
  /** Connections whose answer to a sync step 1 is still streaming. */
  private readonly answering = new Set<Peer>();

  has(peer: Peer): boolean {
    return this.answering.has(peer);
  }

  /** Stops streaming to a peer that left. */
  cancel(peer: Peer): void {
    this.answering.delete(peer);
  }

  /** Streams the parts of an answer to the peer, the last one as sync step 2. */
  stream(peer: Peer, parts: Generator<LogEntry[]>): void {
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
}
