/**
 * A deliberately dishonest relay for tests: speaks the y-websocket protocol with one server Y.Doc per room, accepts
 * anything, checks no auth, and lets a test tamper with what it serves (inject, mutate, copy between rooms).
 * Honest nodes must deliver nothing forged and report the problems.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import * as Y from 'yjs';
import * as syncProtocol from 'y-protocols/sync';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import type { AddressInfo } from 'node:net';

export interface HostileRelay {
  url: string;
  docs: Map<string, Y.Doc>;
  /** Writes entries into a room's document as the relay (reaches every connected client). */
  inject(room: string, entries: [string, Uint8Array][]): void;
  close(): Promise<void>;
}

export async function startHostileRelay(): Promise<HostileRelay> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const docs = new Map<string, Y.Doc>();
  const conns = new Map<string, Set<WebSocket>>();
  const docFor = (room: string) => {
    let doc = docs.get(room);
    if (!doc) {
      doc = new Y.Doc();
      docs.set(room, doc);
      conns.set(room, new Set());
      doc.on('update', (update: Uint8Array, origin: unknown) => {
        const enc = encoding.createEncoder();
        encoding.writeVarUint(enc, 0);
        syncProtocol.writeUpdate(enc, update);
        const msg = encoding.toUint8Array(enc);
        for (const ws of conns.get(room)!) if (ws !== origin && ws.readyState === ws.OPEN) ws.send(msg);
      });
    }
    return doc;
  };
  wss.on('connection', (ws, req) => {
    const room = new URL(req.url ?? '/', 'ws://x').pathname.slice(1);
    const doc = docFor(room);
    conns.get(room)!.add(ws);
    ws.on('close', () => conns.get(room)!.delete(ws));
    ws.on('message', (data: Buffer) => {
      try {
        const dec = decoding.createDecoder(new Uint8Array(data));
        const type = decoding.readVarUint(dec);
        if (type === 0) {
          const enc = encoding.createEncoder();
          encoding.writeVarUint(enc, 0);
          syncProtocol.readSyncMessage(dec, enc, doc, ws);
          if (encoding.length(enc) > 1) ws.send(encoding.toUint8Array(enc));
        } else if (type === 1) {
          for (const other of conns.get(room)!) if (other !== ws && other.readyState === other.OPEN) other.send(data);
        }
      } catch {
        ws.close();
      }
    });
    const enc = encoding.createEncoder();
    encoding.writeVarUint(enc, 0);
    syncProtocol.writeSyncStep1(enc, doc);
    ws.send(encoding.toUint8Array(enc));
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    docs,
    inject(room, entries) {
      const doc = docFor(room);
      doc.transact(() => {
        const log = doc.getMap<Uint8Array>('log');
        for (const [k, v] of entries) log.set(k, v);
      }, 'relay');
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
  };
}
