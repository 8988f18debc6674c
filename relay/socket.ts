/**
 * One WebSocket as the relay serves it, whatever it carries (one room, or many over /mux): sends bounded by the
 * socket's send buffer (backpressure), a ping that terminates a silent peer, and a close that happens once.
 */
import { WebSocket } from 'ws';
import type { RelayMetrics } from './metrics.js';
import { CLOSE, type RelayOptions } from './options.js';

/** Close reasons must fit a control frame (123 bytes). */
export const reasonText = (r: string) => r.slice(0, 120);

export class RelaySocket {
  /** True once the relay closed (or began to close) the socket: nothing more is sent or read. */
  closed = false;
  private alive = true;
  private readonly ping: NodeJS.Timeout;

  constructor(
    readonly ws: WebSocket,
    private readonly opts: RelayOptions,
    private readonly metrics: RelayMetrics,
  ) {
    ws.on('pong', () => (this.alive = true));
    this.ping = setInterval(() => {
      if (!this.alive) return ws.terminate();
      this.alive = false;
      ws.ping();
    }, opts.pingIntervalMs);
    ws.on('error', () => undefined);
    ws.on('close', () => {
      clearInterval(this.ping);
      this.closed = true;
    });
  }

  /** Sends now; false if the socket is gone or was closed for backpressure (its send buffer passed the bound). */
  send(message: Uint8Array, sent?: () => void): boolean {
    if (this.ws.readyState !== WebSocket.OPEN || this.closed) return false;
    if (this.ws.bufferedAmount > this.opts.maxBufferedBytes) {
      this.overflow();
      return false;
    }
    this.metrics.bytesOut += message.length;
    if (sent) this.ws.send(message, (err) => !err && sent());
    else this.ws.send(message);
    return true;
  }

  /** Closes with a code and reason, counting the refusal (once). */
  close(code: number, reason: string, count = true): void {
    if (this.closed) return;
    this.closed = true;
    if (count) this.metrics.refuse(reason);
    this.ws.close(code, reasonText(reason));
  }

  /** Not fed any more: close, and terminate a peer that does not read its way to the close frame. */
  private overflow(): void {
    this.close(CLOSE.backpressure, 'backpressure');
    setTimeout(() => this.ws.terminate(), this.opts.backpressureGraceMs).unref();
  }
}
