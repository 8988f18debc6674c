/**
 * The Parley relay: a y-websocket-compatible WebSocket server that only ever sees ciphertext. It authenticates
 * each connection to a room (or, on /mux, each room a multiplexed connection opens: relay/mux.ts), validates every update before storing it, stores before forwarding, and serves
 * /healthz and /metrics on the same port. With a shared store (PostgreSQL) several relay processes are one service:
 * each reads back and forwards what the others stored, when the store rings and by a slow poll.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { MUX_PATH } from '../protocol/mux.js';
import { ready } from '../protocol/sodium.js';
import { authorize } from './auth.js';
import { RelayMetrics } from './metrics.js';
import { serveMux } from './mux.js';
import { CLOSE, relayOptions, type RelayOptions } from './options.js';
import { RoomPeer } from './peer.js';
import { Room, type StoreUsage } from './room.js';
import { RelaySocket } from './socket.js';
import { openStore, parseStoreSpec } from './store.js';

export interface RunningRelay {
  url: string;
  host: string;
  port: number;
  metrics: RelayMetrics;
  close(): Promise<void>;
}

/** True for the multiplexed endpoint (protocol/mux.ts), whatever its query. */
const isMuxPath = (url: string | undefined) => typeof url === 'string' && url.split('?')[0].replace(/\/+$/, '') === MUX_PATH;

export async function startRelay(
  overrides: Partial<RelayOptions> = {},
  log: (line: string) => void = (line) => console.error(`parley relay: ${line}`),
): Promise<RunningRelay> {
  await ready();
  const opts = relayOptions(overrides);
  const store = await openStore(parseStoreSpec(opts.store, opts.dataDir));
  const metrics = new RelayMetrics();
  const rooms = new Map<string, Room>();
  const perIp = new Map<string, number>();
  let usage: StoreUsage;
  try {
    usage = { bytes: await store.usage() };
  } catch (err) {
    await store.close();
    throw err;
  }

  const http = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (req.method === 'GET' && req.url === '/metrics') {
      metrics.rooms = rooms.size;
      metrics.storedBytes = usage.bytes;
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.render());
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Parley relay: connect with a WebSocket to /<room>?ts=…&sig=…\n');
    }
  });
  const wss = new WebSocketServer({ server: http, maxPayload: opts.maxFrameBytes, perMessageDeflate: false });

  /** Frees a slot by unloading the longest-idle room without connections; false if every room is in use. */
  const unloadIdleRoom = (): boolean => {
    let oldest: Room | null = null;
    for (const room of rooms.values()) if (!room.busy && (!oldest || room.idleSince < oldest.idleSince)) oldest = room;
    if (oldest) rooms.delete(oldest.name);
    return oldest !== null;
  };

  const roomFor = (name: string): Room | null => {
    let room = rooms.get(name);
    if (room) return room;
    if (rooms.size >= opts.maxRooms && !unloadIdleRoom()) return null;
    room = new Room(name, store, metrics, opts, usage, log);
    rooms.set(name, room);
    return room;
  };

  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const ip = req.socket.remoteAddress ?? 'unknown';
    const socket = new RelaySocket(ws, opts, metrics);
    const mux = isMuxPath(req.url);
    let room: Room | null = null;
    if (!mux) {
      const auth = authorize(req.url);
      if (!auth.ok) return socket.close(CLOSE.auth, `auth: ${auth.reason}`);
      if ((perIp.get(ip) ?? 0) >= opts.maxConnectionsPerIp) return socket.close(CLOSE.tooManyConnections, 'too-many-connections');
      room = roomFor(auth.room);
      if (!room) return socket.close(CLOSE.tooManyRooms, 'too-many-rooms');
    } else if ((perIp.get(ip) ?? 0) >= opts.maxConnectionsPerIp) return socket.close(CLOSE.tooManyConnections, 'too-many-connections');

    perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
    metrics.connections++;
    ws.on('close', () => {
      metrics.connections--;
      const n = (perIp.get(ip) ?? 1) - 1;
      if (n > 0) perIp.set(ip, n);
      else perIp.delete(ip);
    });
    if (!room) return serveMux(socket, { opts, metrics, roomFor });

    const stock = room;
    const peer = new RoomPeer(socket, opts, metrics, (m) => m, (code, reason) => socket.close(code, reason, false));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (socket.closed) return;
      metrics.bytesIn += data.length;
      if (!peer.admit()) return;
      if (!isBinary) return peer.refuse('bad-message');
      stock.receive(peer, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    });
    ws.on('close', () => stock.leave(peer));
    stock.join(peer);
  });
  wss.on('wsClientError', () => metrics.refuse('bad-handshake'));
  // ws emits 'error' with code WS_ERR_UNSUPPORTED_MESSAGE_LENGTH etc. on the socket and closes it with 1009.
  wss.on('error', () => undefined);

  /** Reads the heads of the loaded rooms and rings those another process moved (a lost notification only delays). */
  let polling = false;
  const poll = async () => {
    if (polling || rooms.size === 0) return;
    polling = true;
    try {
      for (const [name, head] of await store.heads([...rooms.keys()])) rooms.get(name)?.ring(head);
    } catch {
      // Store away: the status log line says so; the next poll tries again.
    } finally {
      polling = false;
    }
  };
  await store.watch({
    appended: (name, cursor, sentAt) => rooms.get(name)?.ring(cursor, sentAt),
    status(up, why) {
      metrics.storeUp = up ? 1 : 0;
      if (up) {
        log(`store available again (${store.description}); taking writes`);
        void poll();
      } else {
        metrics.storeOutages++;
        log(`store unavailable (${store.description}: ${why}); refusing writes with 1013 until it is back`);
      }
    },
    missed: () => void poll(),
  });
  const poller = store.shared ? setInterval(() => void poll(), opts.storePollMs) : null;
  poller?.unref();

  let maintaining = false;
  const maintain = async () => {
    if (maintaining) return;
    maintaining = true;
    try {
      const now = Date.now();
      for (const [name, room] of rooms) {
        if (!room.busy && now - room.idleSince > opts.roomIdleTtlMs) rooms.delete(name);
        else room.expireAwareness(now);
      }
      // Other processes expire rooms too: renew the ones in use here so none of them deletes a room this one serves.
      if (store.shared) await store.touch([...rooms.values()].filter((r) => r.busy).map((r) => r.name), now);
      const expired = opts.diskTtlMs > 0 ? await store.expire(now - opts.diskTtlMs, new Set(rooms.keys())) : [];
      // Expiry frees bytes, and with a shared store other processes add some: recount for the disk quota (a single
      // SQLite process otherwise knows its total from its own appends, and the recount is a scan).
      if (store.shared || expired.length > 0) usage.bytes = await store.usage();
      await store.maintain();
    } catch (err) {
      log(`maintenance: ${(err as Error).message}`);
    } finally {
      maintaining = false;
    }
  };
  const maintenance = setInterval(() => void maintain(), opts.compactionIntervalMs);
  maintenance.unref();

  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(opts.port, opts.host, () => {
        http.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    clearInterval(maintenance);
    if (poller) clearInterval(poller);
    await store.close();
    throw err;
  }
  const address = http.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | null = null;
  return {
    url: `ws://${hostForUrl}:${address.port}`,
    host: address.address,
    port: address.port,
    metrics,
    close() {
      closing ??= new Promise<void>((resolve) => {
        clearInterval(maintenance);
        if (poller) clearInterval(poller);
        for (const ws of wss.clients) ws.close(CLOSE.shutdown, 'relay shutting down');
        wss.close(() => {
          http.close(() => {
            // Let queued appends finish before the store closes under them.
            void Promise.all([...rooms.values()].map((r) => r.idle()))
              .then(() => {
                rooms.clear();
                return store.close();
              })
              .finally(resolve);
          });
          http.closeAllConnections();
        });
        setTimeout(() => {
          for (const ws of wss.clients) ws.terminate();
        }, 1000).unref();
      });
      return closing;
    },
  };
}
