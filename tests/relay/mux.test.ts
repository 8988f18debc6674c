/**
 * The multiplexed endpoint (/mux, protocol/mux.ts) of a real relay process: rooms opened over one socket sync with
 * stock per-room y-websocket providers in both directions; a room the relay refuses (auth, limits) is closed on its
 * own with the stock close code while the socket and its other rooms go on; a malformed frame closes the socket.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { Awareness } from 'y-protocols/awareness';
import { spawnRelay, type SpawnedRelay } from '../helpers/relay.js';
import { until } from '../helpers/until.js';
import { randomEntry, stockProvider } from '../helpers/room-client.js';
import { ready } from '../../protocol/sodium.js';
import { newEpochKey, relayAuthParams } from '../../protocol/keys.js';
import { decodeFrame, encodeClose, encodeData, encodeOpen, MUX_PATH, type MuxFrame } from '../../protocol/mux.js';
import { SYNC_UPDATE, syncMessage } from '../../relay/wire.js';
import { RelayPool } from '../../node/relay-connection.js';
import { RoomLink } from '../../node/room-link.js';

const cleanup: (() => unknown)[] = [];
beforeAll(ready);
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function relay(args: string[] = []): Promise<SpawnedRelay> {
  const r = await spawnRelay({ args });
  cleanup.push(() => r.stop());
  return r;
}

/** A raw /mux socket recording every frame the relay sends. */
async function rawMux(url: string) {
  const ws = new WebSocket(url + MUX_PATH);
  const frames: MuxFrame[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('message', (data: Buffer) => {
    const f = decodeFrame(new Uint8Array(data));
    if (f) frames.push(f);
  });
  ws.on('error', () => undefined);
  await new Promise<void>((resolve) => ws.on('open', () => resolve()));
  cleanup.push(() => ws.terminate());
  return { ws, frames, closed };
}

/** A room linked the way a node links it: a RoomLink over the pool's one connection to the relay. */
function nodeRoom(pool: RelayPool, url: string, key: Uint8Array) {
  const doc = new Y.Doc();
  const awareness = new Awareness(doc);
  const link = new RoomLink(
    pool.connection(url),
    key,
    doc,
    awareness,
    () => undefined,
    () => undefined,
  );
  cleanup.push(() => {
    link.destroy();
    awareness.destroy();
    doc.destroy();
  });
  return { link, doc, log: doc.getMap<Uint8Array>('log') };
}

describe('relay /mux', () => {
  it('many rooms over one socket sync with stock providers both ways', async () => {
    const r = await relay();
    const pool = new RelayPool();
    cleanup.push(() => pool.destroy());
    const keys = Array.from({ length: 5 }, () => newEpochKey());
    const rooms = keys.map((k) => nodeRoom(pool, r.url, k));
    const stock = keys.map((k) => stockProvider(r.url, k, cleanup));
    await until(() => rooms.every((x) => x.link.synced) && stock.every((s) => s.p.synced));
    expect(pool.sockets).toBe(1);

    const fromNode = rooms.map((x) => {
      const [id, v] = randomEntry();
      x.log.set(id, v);
      return id;
    });
    const fromStock = stock.map((s) => {
      const [id, v] = randomEntry();
      s.log.set(id, v);
      return id;
    });
    await until(() => stock.every((s, i) => s.log.has(fromNode[i])) && rooms.every((x, i) => x.log.has(fromStock[i])));
    // Each room got only its own entries.
    for (let i = 0; i < keys.length; i++)
      expect([...rooms[i].log.keys()].sort()).toEqual([fromNode[i], fromStock[i]].sort());
    expect(pool.sockets).toBe(1);
  });

  it('a refused room is closed alone with its code; the socket and its other rooms go on', async () => {
    const r = await relay(['--max-rooms-per-connection', '2']);
    const m = await rawMux(r.url);
    const good = relayAuthParams(newEpochKey());
    const bad = relayAuthParams(newEpochKey());
    m.ws.send(encodeOpen(1, good.room, good.ts, good.sig));
    m.ws.send(encodeOpen(2, bad.room, bad.ts, good.sig));
    const third = relayAuthParams(newEpochKey());
    const fourth = relayAuthParams(newEpochKey());
    m.ws.send(encodeOpen(3, third.room, third.ts, third.sig));
    m.ws.send(encodeOpen(4, fourth.room, fourth.ts, fourth.sig));
    // Data for a room never opened is dropped, not an error.
    m.ws.send(encodeData(99, Uint8Array.of(0, 0, 0)));
    await until(() => m.frames.filter((f) => f.kind === 'close').length === 2);
    const closes = m.frames.filter((f) => f.kind === 'close');
    expect(closes).toEqual([
      { kind: 'close', id: 2, code: 4401, reason: 'auth: bad-signature' },
      { kind: 'close', id: 4, code: 4503, reason: 'too-many-rooms-per-connection' },
    ]);
    // Rooms 1 and 3 were greeted with the relay's sync step 1.
    await until(() => [1, 3].every((id) => m.frames.some((f) => f.kind === 'data' && f.id === id)));
    expect(m.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('a malformed frame closes the socket with 4400', async () => {
    const r = await relay();
    const m = await rawMux(r.url);
    m.ws.send(Uint8Array.of(9, 1, 2));
    expect(await m.closed).toEqual({ code: 4400, reason: 'bad-frame' });
  });
});

describe('a client that writes and leaves at once', () => {
  /**
   * Opens a room over a raw /mux socket, sends an update adding one entry, leaves with `leave` at once (the relay
   * reads it all in one turn), then checks that a fresh client of the room gets the entry: it was stored, not
   * dropped with its writer's leaving.
   */
  async function writeAndLeave(leave: (ws: WebSocket) => void): Promise<void> {
    const r = await relay();
    const key = newEpochKey();
    const { ws } = await rawMux(r.url);
    const { room, ts, sig } = relayAuthParams(key);
    const doc = new Y.Doc();
    const [id, v] = randomEntry();
    doc.getMap('log').set(id, v);
    ws.send(encodeOpen(1, room, ts, sig));
    ws.send(encodeData(1, syncMessage(SYNC_UPDATE, Y.encodeStateAsUpdate(doc))));
    leave(ws);
    const reader = stockProvider(r.url, key, cleanup);
    await until(() => reader.p.synced, { what: 'the reader to sync' });
    await until(() => reader.log.has(id), { ms: 5000, what: 'the entry written just before leaving' });
  }

  it('an update sent just before a room close frame is stored', async () => {
    await writeAndLeave((ws) => ws.send(encodeClose(1, 1000, 'left')));
  });

  it('an update sent just before the socket closes is stored', async () => {
    await writeAndLeave((ws) => ws.close(1000, 'done'));
  });
});
