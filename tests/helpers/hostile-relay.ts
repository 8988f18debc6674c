/**
 * A deliberately dishonest relay for tests. It speaks the y-websocket protocol (framing from relay/room.ts), on
 * stock per-room sockets and on the node's multiplexed one (protocol/mux.ts), with one master Y.Doc per room, checks no
 * auth, and serves each connection its own view of the room, computed from the master with a state vector that hides
 * whatever the current policy says. Behaviours:
 *
 *   inject     write entries into a room as the relay (forged, flipped or copied from another room)
 *   drop       lose every n-th update a client sends (never stored, never forwarded)
 *   reorder    send each view update split per Yjs client, in reverse order
 *   replay     resend the whole room state with every update (old updates again and again)
 *   withhold   hide the items of some Yjs clients from every connection except the one that wrote them, or
 *              from selected connections only (a forked view: two members see different histories)
 *   poison     send raw Yjs updates (a delete set, an overwrite) to every connection of a room, now and after each
 *              later connection's initial sync
 *
 * Honest nodes must deliver nothing forged, lose nothing once an honest relay or the peer is reachable, and report
 * what they can detect.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeFrame, encodeClose, encodeData, MUX_PATH } from '../../protocol/mux.js';
import * as Y from 'yjs';
import { MESSAGE_AWARENESS, MESSAGE_SYNC, SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE, syncMessage } from '../../relay/room.js';
import * as decoding from 'lib0/decoding';
import type { AddressInfo } from 'node:net';

export interface Policy {
  dropEvery?: number;
  reorder?: boolean;
  replay?: boolean;
  /** Yjs client ids to hide, and from which connections (default: every connection that did not write them). */
  withhold?: { clients: Set<number>; from?: (conn: Conn) => boolean };
}

export interface Conn {
  /** Connection order within the room, from 0. */
  index: number;
  /** Yjs client ids this connection has written. */
  writers: Set<number>;
}

export interface HostileRelay {
  url: string;
  docs: Map<string, Y.Doc>;
  inject(room: string, entries: [string, Uint8Array][]): void;
  setPolicy(room: string, policy: Policy): void;
  /**
   * Sends `updates` as raw sync updates to every open connection of a room, and to each later connection after its
   * initial sync. Resolves once every open connection has answered a sync step 1 sent after them: a client handles
   * messages in order, so by then it has handled the updates.
   */
  poison(room: string, updates: Uint8Array[]): Promise<void>;
  /** Connections of a room, in order (including closed ones). */
  conns(room: string): Conn[];
  close(): Promise<void>;
}

const HIDDEN = 0x7fffffff;

/** What the relay needs of one room's connection: a stock socket, or one room of a multiplexed socket. */
interface RoomSocket {
  readonly open: boolean;
  send(message: Uint8Array): void;
  onClose(f: () => void): void;
  close(): void;
}

interface Live extends Conn {
  ws: RoomSocket;
  /** What this connection is known to have (its step 1 plus everything sent to it). */
  known: Map<number, number>;
  received: number;
  /** Called on the connection's next sync step 2 (the `poison` barrier). */
  onStep2?: () => void;
}

interface RoomState {
  doc: Y.Doc;
  conns: Live[];
  policy: Policy;
  poison: Uint8Array[];
}

// Long: one closure over the rooms, connections and the policy that shapes each view.
export async function startHostileRelay(): Promise<HostileRelay> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const rooms = new Map<string, RoomState>();
  const docs = new Map<string, Y.Doc>();

  const roomFor = (name: string): RoomState => {
    let room = rooms.get(name);
    if (!room) {
      const doc = new Y.Doc();
      room = { doc, conns: [], policy: {}, poison: [] };
      rooms.set(name, room);
      docs.set(name, doc);
      doc.on('update', () => flushAll(room!));
    }
    return room;
  };

  const hiddenFor = (room: RoomState, conn: Live): Set<number> => {
    const w = room.policy.withhold;
    if (!w || (w.from ? !w.from(conn) : false)) return new Set();
    return new Set([...w.clients].filter((c) => !conn.writers.has(c)));
  };

  /** Sends a connection what its view lacks; `step2` marks the answer to its sync step 1. */
  const flush = (room: RoomState, conn: Live, step2 = false) => {
    if (!conn.ws.open) return;
    const hidden = hiddenFor(room, conn);
    const sv = new Map(conn.known);
    for (const c of hidden) sv.set(c, HIDDEN);
    const parts: Uint8Array[] = [];
    if (room.policy.reorder) {
      const clients = [...Y.decodeStateVector(Y.encodeStateVector(room.doc)).keys()].filter((c) => !hidden.has(c));
      for (const c of clients.reverse()) {
        const only = new Map(sv);
        for (const other of clients) if (other !== c) only.set(other, HIDDEN);
        parts.push(Y.encodeStateAsUpdate(room.doc, Y.encodeStateVector(only)));
      }
    } else parts.push(Y.encodeStateAsUpdate(room.doc, Y.encodeStateVector(sv)));
    if (room.policy.replay) parts.push(Y.encodeStateAsUpdate(room.doc));
    for (const [c, clock] of Y.decodeStateVector(Y.encodeStateVector(room.doc)))
      if (!hidden.has(c)) conn.known.set(c, clock);
    parts.forEach((p, i) => {
      conn.ws.send(syncMessage(step2 && i === parts.length - 1 ? SYNC_STEP2 : SYNC_UPDATE, p));
    });
    if (step2 && parts.length === 0) conn.ws.send(syncMessage(SYNC_STEP2, Y.encodeStateAsUpdate(new Y.Doc())));
  };
  const flushAll = (room: RoomState) => {
    for (const c of room.conns) flush(room, c);
  };

  /** Joins a connection to a room; returns its message handler. */
  const join = (name: string, ws: RoomSocket): ((data: Uint8Array) => void) => {
    const room = roomFor(name);
    const conn: Live = { index: room.conns.length, writers: new Set(), ws, known: new Map(), received: 0 };
    room.conns.push(conn);
    ws.send(syncMessage(SYNC_STEP1, Y.encodeStateVector(room.doc)));
    return (data: Uint8Array) => {
      try {
        const d = decoding.createDecoder(data);
        const type = decoding.readVarUint(d);
        if (type === MESSAGE_SYNC) {
          const step = decoding.readVarUint(d);
          const payload = decoding.readVarUint8Array(d);
          if (step === SYNC_STEP1) {
            conn.known = Y.decodeStateVector(payload);
            flush(room, conn, true);
            for (const u of room.poison) ws.send(syncMessage(SYNC_UPDATE, u));
            return;
          }
          if (step === SYNC_STEP2 && conn.onStep2) {
            const answered = conn.onStep2;
            conn.onStep2 = undefined;
            answered();
          }
          for (const s of Y.decodeUpdate(payload).structs) conn.writers.add(s.id.client);
          conn.received++;
          if (room.policy.dropEvery && conn.received % room.policy.dropEvery === 0) return;
          // The sender has what it sent: do not echo it back.
          for (const [c, clock] of Y.decodeStateVector(Y.encodeStateVectorFromUpdate(payload)))
            conn.known.set(c, Math.max(conn.known.get(c) ?? 0, clock));
          Y.applyUpdate(room.doc, payload, conn);
        } else if (type === MESSAGE_AWARENESS) {
          for (const other of room.conns) if (other !== conn && other.ws.open) other.ws.send(data);
        }
      } catch {
        ws.close();
      }
    };
  };

  wss.on('connection', (ws: WebSocket, req) => {
    const path = new URL(req.url ?? '/', 'ws://x').pathname;
    if (path !== MUX_PATH) {
      const onMessage = join(path.slice(1), {
        get open() {
          return ws.readyState === ws.OPEN;
        },
        send: (m) => ws.send(m),
        onClose: (f) => ws.once('close', f),
        close: () => ws.close(),
      });
      return ws.on('message', (data: Buffer) => onMessage(new Uint8Array(data)));
    }
    const rooms = new Map<number, (data: Uint8Array) => void>();
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(new Uint8Array(data));
      if (frame?.kind === 'open') {
        const { id } = frame;
        let left = false;
        const closers: (() => void)[] = [];
        ws.once('close', () => {
          for (const f of closers) f();
        });
        rooms.set(
          id,
          join(frame.room, {
            get open() {
              return !left && ws.readyState === ws.OPEN;
            },
            send: (m) => ws.send(encodeData(id, m)),
            onClose: (f) => closers.push(f),
            close: () => {
              left = true;
              rooms.delete(id);
              ws.send(encodeClose(id, 4400, 'refused'));
              for (const f of closers) f();
            },
          }),
        );
      } else if (frame?.kind === 'data') rooms.get(frame.id)?.(frame.message);
      else if (frame?.kind === 'close') rooms.delete(frame.id);
    });
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    docs,
    inject(name, entries) {
      const { doc } = roomFor(name);
      doc.transact(() => {
        const log = doc.getMap<Uint8Array>('log');
        for (const [k, v] of entries) log.set(k, v);
      }, 'relay');
    },
    setPolicy(name, policy) {
      const room = roomFor(name);
      room.policy = policy;
      flushAll(room);
    },
    poison(name, updates) {
      const room = roomFor(name);
      room.poison = updates;
      const open = room.conns.filter((c) => c.ws.open);
      return Promise.all(
        open.map(
          (c) =>
            new Promise<void>((resolve) => {
              c.onStep2 = resolve;
              c.ws.onClose(() => resolve());
              for (const u of updates) c.ws.send(syncMessage(SYNC_UPDATE, u));
              c.ws.send(syncMessage(SYNC_STEP1, Y.encodeStateVector(room.doc)));
            }),
        ),
      ).then(() => undefined);
    },
    conns: (name) => (rooms.get(name)?.conns ?? []).map(({ index, writers }) => ({ index, writers })),
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
  };
}
