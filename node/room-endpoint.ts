/**
 * What every room on a relay connection shares, whoever holds it (a channel's replica, node/room-link.ts, or a
 * dormant channel, node/dormant.ts): its auth, whether it is open and synced, the relay's last refusal shown until a
 * sync succeeds, and asking again for a room the relay refused alone, after a backoff.
 */
import { EventEmitter } from 'node:events';
import * as encoding from 'lib0/encoding';
import { roomAuthParams, roomKeyPair } from '../protocol/keys.js';
import { isRefusal, type MuxRoom, type RelayConnection } from './relay-connection.js';

export const MESSAGE_SYNC = 0;
export const MESSAGE_AWARENESS = 1;
export const MESSAGE_QUERY_AWARENESS = 3;
/** A room the relay refused is asked for again after a backoff growing to this. */
const MAX_RETRY_MS = 30_000;

export abstract class RoomEndpoint extends EventEmitter implements MuxRoom {
  synced = false;
  /** Why this relay last refused the room (close code and reason), until a sync succeeds; null if it has not. */
  refusal: string | null = null;
  protected live = false;
  protected destroyed = false;
  private retries = 0;
  private retry: NodeJS.Timeout | null = null;
  /** Derived at the first open and kept: every re-open only signs. */
  private roomKeys: { room: string; secretKey: Uint8Array } | null = null;

  constructor(
    protected readonly connection: RelayConnection,
    private readonly epochKey: Uint8Array,
  ) {
    super();
  }

  get url(): string {
    return this.connection.url;
  }

  /** The shared socket is open and this room is not refused. */
  get connected(): boolean {
    return this.live && this.connection.connected;
  }

  auth() {
    this.roomKeys ??= roomKeyPair(this.epochKey);
    return roomAuthParams(this.roomKeys);
  }

  abstract opened(): void;
  abstract receive(message: Uint8Array): void;

  closed(code: number, reason: string, connectionLost: boolean): void {
    this.live = false;
    this.setSynced(false);
    // A refusal stays shown until a sync succeeds again, so the relay does not flicker to connected on every try.
    if (isRefusal(code)) this.refusal = `${code} ${reason || 'refused'}`;
    this.onClosed(code, reason);
    // The connection re-opens its rooms itself when it reconnects; a room it refused alone is asked for again here.
    if (connectionLost && this.retry) {
      clearTimeout(this.retry);
      this.retry = null;
    }
    if (!connectionLost && !this.destroyed && !this.retry) {
      this.retry = setTimeout(
        () => {
          this.retry = null;
          if (!this.destroyed) this.connection.reopen(this);
        },
        Math.min(MAX_RETRY_MS, 500 * 2 ** Math.min(this.retries++, 8)),
      );
      this.retry.unref();
    }
  }

  /** What a subclass drops when the relay closes the room. */
  protected onClosed(_code: number, _reason: string): void {}

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.retry) clearTimeout(this.retry);
    this.connection.detach(this);
    this.removeAllListeners();
  }

  protected setSynced(synced: boolean): void {
    if (this.synced === synced) return;
    this.synced = synced;
    if (synced) {
      this.refusal = null;
      this.retries = 0;
    }
    this.emit('sync', synced);
  }

  /** Sends a sync message of `step` (0 = step 1 with a state vector, 1 = step 2, 2 = update). */
  protected sendSync(step: number, payload: Uint8Array): void {
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, MESSAGE_SYNC);
    encoding.writeVarUint(e, step);
    encoding.writeVarUint8Array(e, payload);
    this.connection.send(this, encoding.toUint8Array(e));
  }
}
