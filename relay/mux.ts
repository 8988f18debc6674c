/**
 * A multiplexed connection (protocol/mux.ts): one socket, many rooms, each opened with its own room auth. A room
 * the relay refuses or closes is closed on its own with the code and reason a stock connection would get; the
 * socket stays open for the others. Only a malformed frame, backpressure or the relay's shutdown close the socket.
 */
import { authorizeRoom } from './auth.js';
import type { RelayMetrics } from './metrics.js';
import { CLOSE, type RelayOptions } from './options.js';
import { RoomPeer } from './peer.js';
import { TokenBucket } from './rate.js';
import type { Room } from './room.js';
import type { RelaySocket } from './socket.js';
import { decodeFrame, encodeClose, encodeData } from '../protocol/mux.js';

export interface MuxContext {
  opts: RelayOptions;
  metrics: RelayMetrics;
  /** The room of that name, loaded; null if the relay holds as many rooms as it may. */
  roomFor(name: string): Room | null;
}

export function serveMux(socket: RelaySocket, ctx: MuxContext): void {
  const { opts, metrics } = ctx;
  const links = new Map<number, { room: Room; peer: RoomPeer }>();
  // Opening a room checks a signature and loads the room: bounded per socket, with a burst that covers a node's
  // start-up (every room it may hold, and at least one second's worth).
  const opens = new TokenBucket(opts.roomOpensPerSecond, Math.max(opts.maxRoomsPerConnection, opts.roomOpensPerSecond));

  const refuseRoom = (id: number, code: number, reason: string) => {
    metrics.refuse(reason);
    socket.send(encodeClose(id, code, reason));
  };
  const unlink = (id: number) => {
    const link = links.get(id);
    if (!link) return;
    links.delete(id);
    metrics.roomLinks--;
    link.peer.drop();
    link.room.leave(link.peer);
  };

  socket.ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (socket.closed) return;
    metrics.bytesIn += data.length;
    const frame = isBinary ? decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) : null;
    if (!frame) return socket.close(CLOSE.refused, 'bad-frame');
    const { id } = frame;
    if (frame.kind === 'data') {
      // A frame for a room this socket left, or the relay closed, was in flight: dropped.
      const link = links.get(id);
      if (link?.peer.admit()) link.room.receive(link.peer, frame.message);
      return;
    }
    if (frame.kind === 'close') return unlink(id);
    if (links.has(id)) return socket.close(CLOSE.refused, 'bad-frame');
    if (links.size >= opts.maxRoomsPerConnection)
      return refuseRoom(id, CLOSE.tooManyRooms, 'too-many-rooms-per-connection');
    if (!opens.take()) return refuseRoom(id, CLOSE.rateLimit, 'open-rate-limit');
    const auth = authorizeRoom(frame.room, frame.ts, frame.sig);
    if (!auth.ok) return refuseRoom(id, CLOSE.auth, `auth: ${auth.reason}`);
    const room = ctx.roomFor(auth.room);
    if (!room) return refuseRoom(id, CLOSE.tooManyRooms, 'too-many-rooms');
    const peer = new RoomPeer(
      socket,
      opts,
      metrics,
      (m) => encodeData(id, m),
      (code, reason) => {
        unlink(id);
        socket.send(encodeClose(id, code, reason));
      },
    );
    links.set(id, { room, peer });
    metrics.roomLinks++;
    room.join(peer);
  });
  socket.ws.on('close', () => {
    for (const id of [...links.keys()]) unlink(id);
  });
}
