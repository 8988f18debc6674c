/** Fetches a room's document straight from a relay with a stock y-websocket client (what anyone with the key sees). */
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import WebSocket from 'ws';
import { relayAuthParams } from '../../protocol/keys.js';

/** A stock y-websocket client on a room, synced once with the relay (the caller destroys provider and doc). */
export async function openRoom(
  relayUrl: string,
  epochKey: Uint8Array,
  doc: Y.Doc,
  timeoutMs = 10_000,
): Promise<WebsocketProvider> {
  const { room, ts, sig } = relayAuthParams(epochKey);
  const provider = new WebsocketProvider(relayUrl, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
    params: { ts, sig },
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('relay did not sync')), timeoutMs);
    provider.on('sync', (s: boolean) => {
      if (s) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return provider;
}

export async function fetchRoom(
  relayUrl: string,
  epochKey: Uint8Array,
  timeoutMs = 10_000,
): Promise<Map<string, Uint8Array>> {
  const doc = new Y.Doc();
  let provider: WebsocketProvider | undefined;
  try {
    provider = await openRoom(relayUrl, epochKey, doc, timeoutMs);
    return new Map(doc.getMap<Uint8Array>('log').entries());
  } finally {
    provider?.destroy();
    doc.destroy();
  }
}

/** The update a change to `doc` produces (what a provider would send). */
export function captureUpdate(doc: Y.Doc, change: () => void): Uint8Array {
  let out: Uint8Array | null = null;
  const h = (u: Uint8Array) => (out = u);
  doc.on('update', h);
  change();
  doc.off('update', h);
  if (!out) throw new Error('the change produced no update');
  return out;
}
