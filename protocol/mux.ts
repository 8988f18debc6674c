/**
 * The multiplexed relay connection (docs/relay.md "One connection, many rooms"): one WebSocket to `/mux` carries
 * the y-websocket messages of many rooms. Each frame names a room by a small number the client chose when it
 * opened the room on that connection, and each room is authenticated on its own, exactly as a stock connection
 * to `/<room>?ts=…&sig=…` is. Pure encoding; no I/O.
 *
 *   frame = varuint kind, varuint id, body
 *   kind 0 open   (client → relay): varstring room, varstring ts, varstring sig
 *   kind 1 data   (both ways):      the rest of the frame is one y-websocket message, unchanged
 *   kind 2 close  (both ways):      varuint code, varstring reason. From the relay: the room was refused or closed
 *                                   (the codes and reasons a stock connection is closed with). From the client: it
 *                                   leaves the room. Either way the id is free again once the close is sent.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

export const MUX_PATH = '/mux';
export const FRAME_OPEN = 0;
export const FRAME_DATA = 1;
export const FRAME_CLOSE = 2;
/** Room ids a client may use on one connection (a bound for the relay's table of them). */
export const MAX_MUX_ID = 2 ** 31 - 1;

export type MuxFrame =
  | { kind: 'open'; id: number; room: string; ts: string; sig: string }
  | { kind: 'data'; id: number; message: Uint8Array }
  | { kind: 'close'; id: number; code: number; reason: string };

export function encodeOpen(id: number, room: string, ts: string, sig: string): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, FRAME_OPEN);
  encoding.writeVarUint(e, id);
  encoding.writeVarString(e, room);
  encoding.writeVarString(e, ts);
  encoding.writeVarString(e, sig);
  return encoding.toUint8Array(e);
}

export function encodeData(id: number, message: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, FRAME_DATA);
  encoding.writeVarUint(e, id);
  encoding.writeUint8Array(e, message);
  return encoding.toUint8Array(e);
}

export function encodeClose(id: number, code: number, reason: string): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, FRAME_CLOSE);
  encoding.writeVarUint(e, id);
  encoding.writeVarUint(e, code);
  encoding.writeVarString(e, reason.slice(0, 120));
  return encoding.toUint8Array(e);
}

/** Decodes one frame; null for anything malformed (unknown kind, id out of range, truncated, trailing bytes). */
export function decodeFrame(frame: Uint8Array): MuxFrame | null {
  try {
    const d = decoding.createDecoder(frame);
    const kind = decoding.readVarUint(d);
    const id = decoding.readVarUint(d);
    if (id > MAX_MUX_ID) return null;
    if (kind === FRAME_DATA) {
      const message = frame.subarray(d.pos);
      return message.length > 0 ? { kind: 'data', id, message } : null;
    }
    let result: MuxFrame;
    if (kind === FRAME_OPEN) {
      result = {
        kind: 'open',
        id,
        room: decoding.readVarString(d),
        ts: decoding.readVarString(d),
        sig: decoding.readVarString(d),
      };
    } else if (kind === FRAME_CLOSE) {
      result = { kind: 'close', id, code: decoding.readVarUint(d), reason: decoding.readVarString(d) };
    } else return null;
    return decoding.hasContent(d) ? null : result;
  } catch {
    return null;
  }
}
