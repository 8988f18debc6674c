/**
 * The bench's stock WebsocketProvider speaking Hocuspocus's protocol, so that the same client code (and client CPU)
 * serves every relay the bench compares. A WebSocket stand-in for the provider's `WebSocketPolyfill`:
 *
 *   Hocuspocus message = varstring document name, then a y-websocket message (varuint type, payload)
 *
 * On open it sends the authentication message Hocuspocus waits for before it opens a document (type 2, token 0,
 * an empty token: the bench server has no auth hook); every message the provider sends gets the document name
 * in front; of what the server sends, sync (0) and awareness (1) messages are passed on without the name, a sync
 * reply (4: a sync message that asks for no further step 1) as a sync message, and the rest (the authentication
 * answer, the per-update SyncStatus acknowledgements, pings) is dropped. One copy per message each way, as `ws`'s
 * own `arraybuffer` conversion makes for the other relays.
 */
import WebSocket from 'ws';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

const SYNC = 0;
const AWARENESS = 1;
const AUTH = 2;
const SYNC_REPLY = 4;
const AUTH_TOKEN = 0;

type Handler<E> = ((event: E) => void) | null;

export class HocuspocusSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  binaryType = 'arraybuffer';
  onopen: Handler<void> = null;
  onmessage: Handler<{ data: ArrayBuffer }> = null;
  onclose: Handler<{ code: number; reason: string }> = null;
  onerror: Handler<unknown> = null;
  private readonly ws: WebSocket;
  /** varstring document name: the prefix of every message. */
  private readonly address: Uint8Array;

  /** `url` = ws://host:port/<document>, as WebsocketProvider builds it (a query string is ignored). */
  constructor(url: string) {
    const u = new URL(url);
    const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
    const e = encoding.createEncoder();
    encoding.writeVarString(e, name);
    this.address = encoding.toUint8Array(e);
    this.ws = new WebSocket(`${u.protocol}//${u.host}/`, { perMessageDeflate: false });
    this.ws.on('open', () => {
      const auth = encoding.createEncoder();
      encoding.writeUint8Array(auth, this.address);
      encoding.writeVarUint(auth, AUTH);
      encoding.writeVarUint(auth, AUTH_TOKEN);
      encoding.writeVarString(auth, '');
      this.ws.send(encoding.toUint8Array(auth));
      this.onopen?.();
    });
    this.ws.on('message', (data: Buffer) => this.receive(data));
    this.ws.on('close', (code: number, reason: Buffer) => this.onclose?.({ code, reason: reason.toString() }));
    this.ws.on('error', (err) => this.onerror?.(err));
  }

  get readyState(): number {
    return this.ws.readyState;
  }

  send(message: Uint8Array): void {
    const framed = new Uint8Array(this.address.length + message.length);
    framed.set(this.address, 0);
    framed.set(message, this.address.length);
    this.ws.send(framed);
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }

  private receive(data: Buffer): void {
    const d = decoding.createDecoder(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    decoding.readVarString(d);
    const start = d.pos;
    const type = decoding.readVarUint(d);
    if (type !== SYNC && type !== AWARENESS && type !== SYNC_REPLY) return;
    // Types 0-4 are one byte: the message without the name starts at `start`; a sync reply becomes a sync message.
    const out = data.buffer.slice(data.byteOffset + start, data.byteOffset + data.byteLength);
    if (type === SYNC_REPLY) new Uint8Array(out)[0] = SYNC;
    this.onmessage?.({ data: out as ArrayBuffer });
  }
}
