/**
 * The benchmarks' baseline: the smallest useful y-protocols relay. One server Y.Doc per room (created on first use,
 * kept for the life of the process), sync + awareness, and nothing else: no auth, no validation, no storage, no
 * rate limits. Whatever Parley costs on top of "just relay Yjs" shows up as the ratio to this.
 *
 * Wire format is y-websocket's: varuint message type (0 sync, 1 awareness, 3 query awareness), then the payload.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import * as Y from 'yjs';
import * as syncProtocol from 'y-protocols/sync';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';

const MESSAGE_SYNC = 0;
const MESSAGE_AWARENESS = 1;
const MESSAGE_QUERY_AWARENESS = 3;

interface PlainRoom {
  doc: Y.Doc;
  awareness: awarenessProtocol.Awareness;
  /** Connection → awareness client ids it announced (removed when it leaves). */
  conns: Map<WebSocket, Set<number>>;
}

export interface PlainRelay {
  url: string;
  port: number;
  /** Entries in the `log` map of every room (for benches waiting until a push has landed). */
  entryCount(): number;
  close(): Promise<void>;
}

const send = (ws: WebSocket, message: Uint8Array) => {
  if (ws.readyState === WebSocket.OPEN) ws.send(message);
};

function awarenessMessage(awareness: awarenessProtocol.Awareness, clients: number[]): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MESSAGE_AWARENESS);
  encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(awareness, clients));
  return encoding.toUint8Array(e);
}

// Long: the baseline relay is one closure over its rooms and sockets, like the real one.
export async function startPlainRelay(opts: { port?: number; host?: string } = {}): Promise<PlainRelay> {
  const rooms = new Map<string, PlainRoom>();

  const roomFor = (name: string): PlainRoom => {
    let room = rooms.get(name);
    if (room) return room;
    const doc = new Y.Doc();
    const awareness = new awarenessProtocol.Awareness(doc);
    awareness.setLocalState(null); // the server itself is not a participant
    const r: PlainRoom = { doc, awareness, conns: new Map() };
    // Every update applied to the server doc goes to every other connection of the room.
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      const e = encoding.createEncoder();
      encoding.writeVarUint(e, MESSAGE_SYNC);
      syncProtocol.writeUpdate(e, update);
      const message = encoding.toUint8Array(e);
      for (const ws of r.conns.keys()) if (ws !== origin) send(ws, message);
    });
    awareness.on(
      'update',
      ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }, origin: unknown) => {
        const changed = [...added, ...updated, ...removed];
        const owned = origin instanceof WebSocket ? r.conns.get(origin) : undefined;
        if (owned) {
          for (const c of [...added, ...updated]) owned.add(c);
          for (const c of removed) owned.delete(c);
        }
        const message = awarenessMessage(awareness, changed);
        for (const ws of r.conns.keys()) send(ws, message);
      },
    );
    rooms.set(name, r);
    room = r;
    return room;
  };

  const http = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  wss.on('connection', (ws, req) => {
    const name = new URL(req.url ?? '/', 'ws://plain.invalid').pathname.replace(/^\/+/, '');
    const room = roomFor(name);
    room.conns.set(ws, new Set());
    ws.on('message', (data: Buffer) => {
      try {
        const d = decoding.createDecoder(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        const type = decoding.readVarUint(d);
        if (type === MESSAGE_SYNC) {
          const e = encoding.createEncoder();
          encoding.writeVarUint(e, MESSAGE_SYNC);
          // Step 1 is answered with step 2 in `e`; step 2 / update are applied with this socket as origin.
          syncProtocol.readSyncMessage(d, e, room.doc, ws);
          if (encoding.length(e) > 1) send(ws, encoding.toUint8Array(e));
        } else if (type === MESSAGE_AWARENESS) {
          awarenessProtocol.applyAwarenessUpdate(room.awareness, decoding.readVarUint8Array(d), ws);
        } else if (type === MESSAGE_QUERY_AWARENESS) {
          send(ws, awarenessMessage(room.awareness, [...room.awareness.getStates().keys()]));
        }
      } catch {
        ws.close();
      }
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      const owned = room.conns.get(ws);
      room.conns.delete(ws);
      if (owned && owned.size > 0) awarenessProtocol.removeAwarenessStates(room.awareness, [...owned], null);
    });
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, MESSAGE_SYNC);
    syncProtocol.writeSyncStep1(e, room.doc);
    send(ws, encoding.toUint8Array(e));
    const states = [...room.awareness.getStates().keys()];
    if (states.length > 0) send(ws, awarenessMessage(room.awareness, states));
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port, address } = http.address() as AddressInfo;
  return {
    url: `ws://${address}:${port}`,
    port,
    entryCount: () => {
      let n = 0;
      for (const r of rooms.values()) n += r.doc.getMap('log').size;
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => {
          http.close(() => resolve());
          http.closeAllConnections();
        });
        for (const r of rooms.values()) r.doc.destroy();
        rooms.clear();
      }),
  };
}
