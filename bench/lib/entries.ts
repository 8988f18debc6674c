/**
 * Sealed-sized synthetic entries for the relay benchmarks: 300 bytes whose first 8 bytes are the send time
 * (float64, performance.now() of this process) and the next 2 the sender's index, the rest random; the key is
 * contentId(value), exactly what the Parley relay requires of a real sealed event.
 */
import { randomFillSync } from 'node:crypto';
import { contentId } from '../../protocol/hash.js';

export const ENTRY_BYTES = 300;

export function stampedEntry(sender: number, stamp = performance.now()): { key: string; value: Uint8Array } {
  const value = new Uint8Array(ENTRY_BYTES);
  randomFillSync(value, 10);
  const view = new DataView(value.buffer);
  view.setFloat64(0, stamp);
  view.setUint16(8, sender);
  return { key: contentId(value), value };
}

export function readStamp(value: Uint8Array): { stamp: number; sender: number } {
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return { stamp: view.getFloat64(0), sender: view.getUint16(8) };
}

/** A 300-byte random entry keyed by its hash (no timestamp needed). */
export function randomEntry(): { key: string; value: Uint8Array } {
  const value = new Uint8Array(ENTRY_BYTES);
  randomFillSync(value);
  return { key: contentId(value), value };
}
