/**
 * Relay auth for one WebSocket request. The path names the room (base64url of the room's Ed25519 public key, 43
 * characters) and the query carries `ts` (unix ms) and `sig`, checked by protocol/keys.ts `checkRelayAuth`. No I/O.
 */
import { checkRelayAuth, type AuthResult } from '../protocol/keys.js';

export type AuthRefusal = Extract<AuthResult, { ok: false }>['reason'] | 'bad-url';
export type RoomAuth = { ok: true; room: string } | { ok: false; reason: AuthRefusal };

const ROOM = /^[A-Za-z0-9_-]{43}$/;

/** Parses a request URL (`/<room>?ts=…&sig=…`, as y-websocket builds it) and checks its signature at `now`. */
export function authorize(url: string | undefined, now: number = Date.now(), windowMs?: number): RoomAuth {
  if (typeof url !== 'string' || url.length > 4096) return { ok: false, reason: 'bad-url' };
  let parsed: URL;
  try {
    parsed = new URL(url, 'ws://relay.invalid');
  } catch {
    return { ok: false, reason: 'bad-url' };
  }
  const room = parsed.pathname.replace(/^\/+/, '').replace(/\/+$/, '');
  return authorizeRoom(room, parsed.searchParams.get('ts'), parsed.searchParams.get('sig'), now, windowMs);
}

/** Checks one room's auth (a stock connection's URL, or a room opened on a multiplexed connection) at `now`. */
export function authorizeRoom(
  room: string,
  ts: string | null,
  sig: string | null,
  now: number = Date.now(),
  windowMs?: number,
): RoomAuth {
  if (!ROOM.test(room)) return { ok: false, reason: 'bad-room' };
  const result = checkRelayAuth(room, ts, sig, now, windowMs);
  return result.ok ? { ok: true, room } : { ok: false, reason: result.reason };
}
