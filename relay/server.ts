/**
 * The Parley relay: a y-websocket-compatible WebSocket server that only ever sees ciphertext. It authenticates
 * each connection to a room (or, on /mux, each room a multiplexed connection opens: relay/mux.ts), validates every
 * update before storing it, stores before forwarding, and serves /healthz and /metrics on the same port. With a
 * shared store (PostgreSQL) several relay processes are one service: each reads back and forwards what the others
 * stored, when the store rings and by a slow poll (the rooms a process holds: relay/rooms.ts).
 */
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { MUX_PATH } from '../protocol/mux.js';
import { ready } from '../protocol/sodium.js';
import { authorize } from './auth.js';
import { RelayMetrics } from './metrics.js';
import { serveMux } from './mux.js';
import { CLOSE, relayOptions, type RelayOptions } from './options.js';
import { RoomPeer } from './peer.js';
import type { Room } from './room.js';
import { Rooms } from './rooms.js';
import { RelaySocket } from './socket.js';
import { openStore, parseStoreSpec, type RelayStore, type StoreUsage } from './store.js';

export interface RunningRelay {
  url: string;
  host: string;
  port: number;
  metrics: RelayMetrics;
  close(): Promise<void>;
}

/** True for the multiplexed endpoint (protocol/mux.ts), whatever its query. */
const isMuxPath = (url: string | undefined) =>
  typeof url === 'string' && url.split('?')[0].replace(/\/+$/, '') === MUX_PATH;

export async function startRelay(
  overrides: Partial<RelayOptions> = {},
  log: (line: string) => void = (line) => console.error(`parley relay: ${line}`),
): Promise<RunningRelay> {
  await ready();
  const opts = relayOptions(overrides);
  const store = await openStore(parseStoreSpec(opts.store, opts.dataDir));
  const metrics = new RelayMetrics();
  let usage: StoreUsage;
  try {
    usage = { bytes: await store.usage() };
  } catch (err) {
    await store.close();
    throw err;
  }
  const rooms = new Rooms(store, metrics, opts, usage, log);

  const http = createServer(routes(metrics, rooms));
  const wss = new WebSocketServer({ server: http, maxPayload: opts.maxFrameBytes, perMessageDeflate: false });
  wss.on('connection', connections(opts, metrics, rooms));
  wss.on('wsClientError', () => metrics.refuse('bad-handshake'));
  // ws emits 'error' with code WS_ERR_UNSUPPORTED_MESSAGE_LENGTH etc. on the socket and closes it with 1009.
  wss.on('error', () => undefined);

  await watchStore(store, metrics, rooms, log);
  const poller = store.shared ? setInterval(() => void rooms.poll(), opts.storePollMs) : null;
  poller?.unref();
  const maintenance = setInterval(() => void rooms.maintain(), opts.compactionIntervalMs);
  maintenance.unref();
  const stopTimers = () => {
    clearInterval(maintenance);
    if (poller) clearInterval(poller);
  };

  try {
    await listen(http, opts);
  } catch (err) {
    stopTimers();
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
      stopTimers();
      closing ??= shutDown(http, wss, rooms, store);
      return closing;
    },
  };
}

/** The plain HTTP side of the port: /healthz, /metrics, and a hint for anything else. */
function routes(metrics: RelayMetrics, rooms: Rooms): RequestListener {
  return (req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (req.method === 'GET' && req.url === '/metrics') {
      metrics.rooms = rooms.size;
      metrics.storedBytes = rooms.usage.bytes;
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.render());
    } else {
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end('Parley relay: connect with a WebSocket to /<room>?ts=…&sig=…\n');
    }
  };
}

/**
 * Each upgraded connection: a stock y-websocket socket is authorized for its one room from its URL; a /mux socket
 * opens its rooms itself (relay/mux.ts). Both count against the per-IP connection limit.
 */
function connections(opts: RelayOptions, metrics: RelayMetrics, rooms: Rooms) {
  const perIp = new Map<string, number>();
  const roomFor = (name: string) => rooms.roomFor(name);
  return (ws: WebSocket, req: IncomingMessage) => {
    const ip = req.socket.remoteAddress ?? 'unknown';
    const socket = new RelaySocket(ws, opts, metrics);
    const mux = isMuxPath(req.url);
    let room: Room | null = null;
    if (!mux) {
      const auth = authorize(req.url);
      if (!auth.ok) return socket.close(CLOSE.auth, `auth: ${auth.reason}`);
      if ((perIp.get(ip) ?? 0) >= opts.maxConnectionsPerIp)
        return socket.close(CLOSE.tooManyConnections, 'too-many-connections');
      room = roomFor(auth.room);
      if (!room) return socket.close(CLOSE.tooManyRooms, 'too-many-rooms');
    } else if ((perIp.get(ip) ?? 0) >= opts.maxConnectionsPerIp)
      return socket.close(CLOSE.tooManyConnections, 'too-many-connections');

    perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
    metrics.connections++;
    ws.on('close', () => {
      metrics.connections--;
      const n = (perIp.get(ip) ?? 1) - 1;
      if (n > 0) perIp.set(ip, n);
      else perIp.delete(ip);
    });
    if (!room) return serveMux(socket, { opts, metrics, roomFor });
    serveRoom(ws, socket, room, opts, metrics);
  };
}

/** A stock y-websocket connection to one room: every binary message is one y-websocket message for it. */
function serveRoom(ws: WebSocket, socket: RelaySocket, room: Room, opts: RelayOptions, metrics: RelayMetrics): void {
  const peer = new RoomPeer(
    socket,
    opts,
    metrics,
    (m) => m,
    (code, reason) => socket.close(code, reason, false),
  );
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (socket.closed) return;
    metrics.bytesIn += data.length;
    if (!peer.admit()) return;
    if (!isBinary) return peer.refuse('bad-message');
    room.receive(peer, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  });
  ws.on('close', () => room.leave(peer));
  room.join(peer);
}

/** Listens to the store: rings rooms other processes appended to, and logs and counts its outages. */
function watchStore(
  store: RelayStore,
  metrics: RelayMetrics,
  rooms: Rooms,
  log: (line: string) => void,
): Promise<void> {
  return store.watch({
    appended: (name, cursor, sentAt) => rooms.ring(name, cursor, sentAt),
    status(up, why) {
      metrics.storeUp = up ? 1 : 0;
      if (up) {
        log(`store available again (${store.description}); taking writes`);
        void rooms.poll();
      } else {
        metrics.storeOutages++;
        log(`store unavailable (${store.description}: ${why}); refusing writes with 1013 until it is back`);
      }
    },
    missed: () => void rooms.poll(),
  });
}

function listen(http: Server, opts: RelayOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port, opts.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
}

/** Closes every connection (terminated after a second), then the HTTP server, the rooms and the store. */
function shutDown(http: Server, wss: WebSocketServer, rooms: Rooms, store: RelayStore): Promise<void> {
  return new Promise<void>((resolve) => {
    for (const ws of wss.clients) ws.close(CLOSE.shutdown, 'relay shutting down');
    wss.close(() => {
      http.close(() => {
        // Let queued appends finish before the store closes under them.
        void rooms
          .close()
          .then(() => store.close())
          .finally(resolve);
      });
      http.closeAllConnections();
    });
    setTimeout(() => {
      for (const ws of wss.clients) ws.terminate();
    }, 1000).unref();
  });
}
