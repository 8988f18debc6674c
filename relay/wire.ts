/**
 * The y-websocket wire protocol as the relay speaks it: message types, and pure encoders and decoders.
 *
 *   message = varuint type, payload
 *   type 0 sync:       varuint step (0 = step 1 state vector, 1 = step 2 update, 2 = update), varuint8array payload
 *   type 1 awareness:  varuint8array awareness update (varuint n, n × {varuint client, varuint clock, varstring JSON})
 *   type 3 query awareness: no payload; answered with every known awareness state
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import type { LogEntry } from '../protocol/log-update.js';

export const MESSAGE_SYNC = 0;
export const MESSAGE_AWARENESS = 1;
export const MESSAGE_QUERY_AWARENESS = 3;
export const SYNC_STEP1 = 0;
export const SYNC_STEP2 = 1;
export const SYNC_UPDATE = 2;

export function syncMessage(step: number, payload: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MESSAGE_SYNC);
  encoding.writeVarUint(e, step);
  encoding.writeVarUint8Array(e, payload);
  return encoding.toUint8Array(e);
}

/** The Yjs update a sync step 2 or update message carries; null for any other message; throws on bad framing. */
export function updatePayload(message: Uint8Array): Uint8Array | null {
  const d = decoding.createDecoder(message);
  if (decoding.readVarUint(d) !== MESSAGE_SYNC) return null;
  const step = decoding.readVarUint(d);
  if (step !== SYNC_STEP2 && step !== SYNC_UPDATE) return null;
  return decoding.readVarUint8Array(d);
}

/** Decodes a Yjs state vector (varuint n, n × {varuint client, varuint clock}); throws on malformed input. */
export function decodeStateVector(bytes: Uint8Array): Map<number, number> {
  const d = decoding.createDecoder(bytes);
  const n = decoding.readVarUint(d);
  if (n > bytes.length) throw new Error('bad state vector');
  const sv = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const client = decoding.readVarUint(d);
    sv.set(client, decoding.readVarUint(d));
  }
  return sv;
}

/** Splits entries into runs that each fit one update message of bounded size (bytes and entry count). */
export function* chunkEntries(
  entries: Iterable<LogEntry>,
  maxBytes: number,
  maxEntries: number,
): Generator<LogEntry[]> {
  let chunk: LogEntry[] = [];
  let bytes = 0;
  for (const e of entries) {
    const size = e.value.length + e.key.length + 16;
    if (chunk.length > 0 && (bytes + size > maxBytes || chunk.length >= maxEntries)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(e);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
