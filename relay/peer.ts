/**
 * One connection to one room, as relay/room.ts sees it (`Peer`, defined here): a stock y-websocket socket, or one
 * room of a multiplexed socket (relay/mux.ts). Holds the per-room rate limits and ends the link with the refusal's
 * close code; how a message is framed and how the link ends is the caller's.
 */
import type { RefusalReason } from '../protocol/log-update.js';
import type { RelayMetrics } from './metrics.js';
import { CLOSE, closeCodeFor, type RelayOptions, type RelayRefusal } from './options.js';
import { TokenBucket } from './rate.js';
import type { RelaySocket } from './socket.js';

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
  /**
   * True once the relay refused this connection: its messages still queued are dropped. A peer that left (closed
   * its room or socket) is not refused: what it sent before leaving is handled like anyone's.
   */
  readonly refused: boolean;
}

export class RoomPeer implements Peer {
  /** Nothing more is sent: the relay refused the link, or the peer left. */
  private ended = false;
  private refusedByRelay = false;
  private readonly messages: TokenBucket;
  private readonly buckets: Record<'sync-step1' | 'awareness', TokenBucket>;

  constructor(
    private readonly socket: RelaySocket,
    opts: RelayOptions,
    private readonly metrics: RelayMetrics,
    /** Wraps a y-websocket message for the socket (as is, or in a mux data frame). */
    private readonly frame: (message: Uint8Array) => Uint8Array,
    /** Ends this link with a close code and reason (closes the socket, or the room on a mux socket). */
    private readonly end: (code: number, reason: string) => void,
  ) {
    this.messages = new TokenBucket(opts.messagesPerSecond, opts.messageBurst);
    this.buckets = {
      'sync-step1': new TokenBucket(opts.syncStep1PerSecond, opts.syncStep1Burst),
      awareness: new TokenBucket(opts.awarenessPerSecond, opts.awarenessBurst),
    };
  }

  get refused(): boolean {
    return this.refusedByRelay;
  }

  private get gone(): boolean {
    return this.ended || this.socket.closed;
  }

  send(message: Uint8Array): void {
    if (!this.gone) this.socket.send(this.frame(message));
  }

  stream(message: Uint8Array, sent: () => void): boolean {
    return !this.gone && this.socket.send(this.frame(message), sent);
  }

  take(kind: 'sync-step1' | 'awareness'): boolean {
    return this.buckets[kind].take();
  }

  refuse(reason: MessageRefusal): void {
    if (this.refused) return;
    this.metrics.refuse(reason);
    this.finish(closeCodeFor(reason), reason);
  }

  unavailable(): void {
    if (!this.refused) this.finish(CLOSE.tryAgainLater, 'store-unavailable');
  }

  /** Counts one incoming message against the link's rate; over it, the link is closed (4408) and false returned. */
  admit(): boolean {
    if (this.refused || this.gone) return false;
    if (this.messages.take()) return true;
    this.metrics.refuse('rate-limit');
    this.finish(CLOSE.rateLimit, 'rate-limit');
    return false;
  }

  /** The link is over without a word to the peer (it closed, or left the room). */
  drop(): void {
    this.ended = true;
  }

  /** Refuses the link: its queued messages are dropped, and it is closed unless the peer already left. */
  private finish(code: number, reason: string): void {
    this.refusedByRelay = true;
    const left = this.gone;
    this.ended = true;
    if (!left) this.end(code, reason);
  }
}
