/** Stock y-websocket clients of a relay room for relay tests, and random hash-keyed entries to write into it. */
import { randomBytes } from 'node:crypto';
import * as Y from 'yjs';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import { contentId } from '../../protocol/hash.js';
import { relayAuthParams } from '../../protocol/keys.js';

/** A `log` entry as the relay accepts it: n random bytes under their content id. */
export const randomEntry = (n = 300): [string, Uint8Array] => {
  const v = new Uint8Array(randomBytes(n));
  return [contentId(v), v];
};

/** A stock provider on the room of `key`, destroyed (with its doc) by the caller's cleanup list. */
export function stockProvider(url: string, key: Uint8Array, cleanup: (() => unknown)[], doc = new Y.Doc()) {
  const { room, ts, sig } = relayAuthParams(key);
  const p = new WebsocketProvider(url, room, doc, {
    WebSocketPolyfill: WebSocket as never,
    disableBc: true,
    params: { ts, sig },
  });
  cleanup.push(() => {
    p.destroy();
    doc.destroy();
  });
  return { p, doc, log: doc.getMap<Uint8Array>('log') };
}
