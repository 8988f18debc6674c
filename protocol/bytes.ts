/**
 * Byte helpers shared by every protocol module: strict base64url (no padding), UTF-8, concatenation.
 * Strict means a decoder accepts exactly the strings its encoder produces, so one value has one text form.
 */

const B64U = /^[A-Za-z0-9_-]*$/;

export function toB64u(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** Decodes base64url; returns null for anything that is not the canonical encoding of some bytes. */
export function fromB64u(text: string, expectedLength?: number): Uint8Array | null {
  if (typeof text !== 'string' || !B64U.test(text) || text.length % 4 === 1) return null;
  const bytes = new Uint8Array(Buffer.from(text, 'base64url'));
  if (toB64u(bytes) !== text) return null;
  if (expectedLength !== undefined && bytes.length !== expectedLength) return null;
  return bytes;
}

export function isB64u(text: unknown, length: number): text is string {
  return typeof text === 'string' && fromB64u(text, length) !== null;
}

const encoder = new TextEncoder();
// ignoreBOM keeps a leading byte-order mark in the text, so canonical decoding refuses it instead of letting
// BOM + text decode to the same value as the text alone (one value, one byte form).
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export const utf8 = (text: string): Uint8Array => encoder.encode(text);
/** Throws on invalid UTF-8 (fatal decoder), so corrupted bytes never become replacement characters. */
export const fromUtf8 = (bytes: Uint8Array): string => decoder.decode(bytes);

export function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
