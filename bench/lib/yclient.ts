/**
 * A stock y-websocket client (WebsocketProvider over `ws`), as any Yjs app would use it. Against the Parley relay
 * it carries relay auth built from the room's epoch key (fresh on every reconnect, like node/replica.ts does);
 * against the plain relay the same room name is used without auth; against Hocuspocus the provider speaks its
 * protocol through bench/lib/hocuspocus-socket.ts.
 */
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import WebSocket from 'ws';
import { relayAuthParams } from '../../protocol/keys.js';
import { HocuspocusSocket } from './hocuspocus-socket.js';

class BenchProvider extends WebsocketProvider {
  epochKey: Uint8Array | null = null;
  override get url(): string {
    if (!this.epochKey) return super.url;
    const { ts, sig } = relayAuthParams(this.epochKey);
    return `${this.serverUrl}/${this.roomname}?ts=${ts}&sig=${sig}`;
  }
}

export interface YClient {
  doc: Y.Doc;
  log: Y.Map<Uint8Array>;
  provider: WebsocketProvider;
  /** Connections the server closed on us (a refusal or rate limit shows up here). */
  closes: { code: number; reason: string }[];
  /** Resolves when the first sync step 2 from the relay has been applied. */
  synced(timeoutMs?: number): Promise<void>;
  close(): void;
}

/** `epochKey` = sign relay auth for the room (Parley relay); null = no auth (plain relay, Hocuspocus). */
export function connectYClient(url: string, room: string, epochKey: Uint8Array | null, hocuspocus = false): YClient {
  const doc = new Y.Doc();
  // Each WebsocketProvider adds a process 'exit' listener; dozens of clients in one process are expected here.
  process.setMaxListeners(Math.max(process.getMaxListeners(), process.listenerCount('exit') + 16));
  const provider = new BenchProvider(url, room, doc, {
    WebSocketPolyfill: (hocuspocus ? HocuspocusSocket : WebSocket) as unknown as typeof globalThis.WebSocket,
    disableBc: true,
    connect: false,
  });
  provider.epochKey = epochKey;
  const closes: { code: number; reason: string }[] = [];
  provider.on('connection-close', (event: { code: number; reason: string } | null) => {
    if (event) closes.push({ code: event.code, reason: String(event.reason) });
  });
  provider.connect();
  let closed = false;
  return {
    doc,
    log: doc.getMap<Uint8Array>('log'),
    provider,
    closes,
    synced(timeoutMs = 30_000) {
      if (provider.synced) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          provider.off('sync', onSync);
          reject(
            new Error(
              `no sync from ${url}/${room} within ${timeoutMs} ms` +
                (closes.length ? ` (closed: ${closes.map((c) => `${c.code} ${c.reason}`).join(', ')})` : ''),
            ),
          );
        }, timeoutMs);
        const onSync = (state: boolean) => {
          if (!state) return;
          clearTimeout(timer);
          provider.off('sync', onSync);
          resolve();
        };
        provider.on('sync', onSync);
      });
    },
    close() {
      if (closed) return;
      closed = true;
      provider.destroy();
      doc.destroy(); // also destroys the provider's Awareness (its renewal timer)
    },
  };
}
