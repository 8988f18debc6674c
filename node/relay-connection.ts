/**
 * One WebSocket from this node to one relay, carrying every room the node has there (protocol/mux.ts). Rooms
 * (node/room-link.ts) attach and detach; the connection opens while any room is attached, reconnects with a
 * backoff when it drops, re-opens every room with fresh auth on each connect, and closes once no room is left.
 * `RelayPool` holds one connection per relay URL for the whole node.
 */
import WebSocket from 'ws';
import { decodeFrame, encodeClose, encodeData, encodeOpen, MUX_PATH } from '../protocol/mux.js';

/** Reconnect backoff after a plain drop … */
const MAX_BACKOFF_MS = 3000;
/** … and after the relay refused the connection itself (4xxx, 1013): no storm of refused attempts. */
const MAX_REFUSED_BACKOFF_MS = 30_000;
/** A relay pings every 15 s by default; silence for this long means the socket is dead. */
const SILENCE_MS = 45_000;
/** A connection without rooms is closed after this long (a rotation detaches and attaches within it). */
const IDLE_CLOSE_MS = 2000;
/** Opening rooms on a new socket yields to other work after this long. */
const OPEN_SLICE_MS = 10;

/** What a connection needs from one room on it. */
export interface MuxRoom {
  /** The room's name and fresh auth, asked at each (re)open. */
  auth(): { room: string; ts: string; sig: string };
  /** The room is open on the relay (frames may flow); called on every (re)connect. */
  opened(): void;
  /** One y-websocket message from the relay for this room. */
  receive(message: Uint8Array): void;
  /** The relay closed this room (code, reason), or the whole connection went (then `code` is its close code). */
  closed(code: number, reason: string, connectionLost: boolean): void;
}

/** A refusal worth showing: an application close code, or 1013 (the relay's store is away). */
export const isRefusal = (code: number) => code >= 4000 || code === 1013;

export class RelayConnection {
  private ws: WebSocket | null = null;
  private open = false;
  private readonly rooms = new Map<number, MuxRoom>();
  private readonly ids = new Map<MuxRoom, number>();
  private nextId = 1;
  private attempts = 0;
  private lastHeard = 0;
  private timer: NodeJS.Timeout | null = null;
  private destroyed = false;

  constructor(readonly url: string) {}

  get connected(): boolean {
    return this.open;
  }

  attach(room: MuxRoom): void {
    if (this.ids.has(room)) return;
    const id = this.nextId++;
    this.rooms.set(id, room);
    this.ids.set(room, id);
    if (this.open) this.openRoom(id, room);
    else if (!this.ws && !this.timer) this.connect();
  }

  detach(room: MuxRoom): void {
    const id = this.ids.get(room);
    if (id === undefined) return;
    this.ids.delete(room);
    this.rooms.delete(id);
    if (this.open) this.ws!.send(encodeClose(id, 1000, 'left'));
    if (this.rooms.size === 0) this.reschedule(IDLE_CLOSE_MS);
  }

  /** Sends one y-websocket message for a room; false if the connection is not open (the room resyncs on open). */
  send(room: MuxRoom, message: Uint8Array): boolean {
    const id = this.ids.get(room);
    if (!this.open || id === undefined) return false;
    this.ws!.send(encodeData(id, message));
    return true;
  }

  /** Re-opens a room the relay closed (after the room's own backoff). */
  reopen(room: MuxRoom): void {
    const id = this.ids.get(room);
    if (id === undefined) return;
    // A fresh id: the relay may still be tearing down the old one. If the room was re-opened meanwhile (a reconnect
    // opens every room), the old id is live on the relay: leave it, so the room is not held twice.
    this.rooms.delete(id);
    if (this.open) this.ws!.send(encodeClose(id, 1000, 'reopen'));
    const fresh = this.nextId++;
    this.rooms.set(fresh, room);
    this.ids.set(room, fresh);
    if (this.open) this.openRoom(fresh, room);
  }

  destroy(): void {
    this.destroyed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.rooms.clear();
    this.ids.clear();
    // A close, not a terminate: what was just sent (a leave, a last post) still reaches the relay.
    if (this.open) this.ws!.close(1000, 'closing');
    else this.ws?.terminate();
    this.ws = null;
    this.open = false;
  }

  /**
   * Opens every attached room on a new socket, in slices: each open signs fresh auth, and a node in thousands of
   * channels must still answer its tools while its rooms open.
   */
  private openAll(ws: WebSocket): void {
    const waiting = [...this.rooms.keys()];
    const slice = () => {
      if (this.ws !== ws || !this.open) return;
      const stop = performance.now() + OPEN_SLICE_MS;
      while (waiting.length > 0 && performance.now() < stop) {
        const id = waiting.shift()!;
        const room = this.rooms.get(id);
        // Detached, or re-opened under a new id (already opened) since the socket opened.
        if (room && this.ids.get(room) === id) this.openRoom(id, room);
      }
      if (waiting.length > 0) setImmediate(slice);
    };
    slice();
  }

  private openRoom(id: number, room: MuxRoom): void {
    const { room: name, ts, sig } = room.auth();
    this.ws!.send(encodeOpen(id, name, ts, sig));
    room.opened();
  }

  private connect(): void {
    this.timer = null;
    if (this.destroyed || this.rooms.size === 0) return;
    const ws = new WebSocket(this.url.replace(/\/+$/, '') + MUX_PATH, { perMessageDeflate: false });
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    ws.on('open', () => {
      if (this.ws !== ws) return;
      this.open = true;
      this.attempts = 0;
      this.lastHeard = Date.now();
      this.reschedule(SILENCE_MS);
      this.openAll(ws);
    });
    ws.on('ping', () => (this.lastHeard = Date.now()));
    ws.on('message', (data: Buffer) => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      const frame = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      if (!frame || frame.kind === 'open') return;
      const room = this.rooms.get(frame.id);
      if (!room) return;
      if (frame.kind === 'data') room.receive(frame.message);
      else room.closed(frame.code, frame.reason, false);
    });
    ws.on('error', () => undefined);
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.open = false;
      for (const room of this.rooms.values()) room.closed(code, reason.toString(), true);
      this.attempts++;
      const cap = isRefusal(code) ? MAX_REFUSED_BACKOFF_MS : MAX_BACKOFF_MS;
      this.reschedule(Math.min(cap, 100 * 2 ** Math.min(this.attempts, 10)));
    });
  }

  /** The connection's one timer: reconnect, close when idle, or check for silence, whichever is due. */
  private reschedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.due(), ms);
    this.timer.unref();
  }

  private due(): void {
    this.timer = null;
    if (this.destroyed) return;
    if (!this.ws) return this.connect();
    if (this.rooms.size === 0) {
      this.ws.close(1000, 'idle');
      this.ws = null;
      this.open = false;
      return;
    }
    if (this.open && Date.now() - this.lastHeard > SILENCE_MS) return void this.ws.terminate();
    this.reschedule(SILENCE_MS);
  }
}

/** The node's connections, one per relay URL. */
export class RelayPool {
  private readonly connections = new Map<string, RelayConnection>();

  connection(url: string): RelayConnection {
    const key = url.replace(/\/+$/, '');
    let c = this.connections.get(key);
    if (!c) {
      c = new RelayConnection(key);
      this.connections.set(key, c);
    }
    return c;
  }

  /** Open sockets (for tests and the bench: it must not grow with channels or epochs). */
  get sockets(): number {
    return [...this.connections.values()].filter((c) => c.connected).length;
  }

  destroy(): void {
    for (const c of this.connections.values()) c.destroy();
    this.connections.clear();
  }
}
