/**
 * Relay configuration: every limit has a name, a unit and a default, and is checked once by `relayOptions`.
 * docs/relay.md documents the same table; `parley relay --help` points there.
 */
import { join } from 'node:path';
import { parleyHome } from '../runtime/profile.js';
import { MAX_SEALED_BYTES } from '../protocol/event.js';
import { parseStoreSpec } from './store.js';

export interface RelayOptions {
  /** Interface to listen on. */
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Directory holding relay.sqlite (created if missing); unused with a PostgreSQL `store`. */
  dataDir: string;
  /**
   * '' = SQLite in `dataDir` (one process). A postgres:// URL = a log shared by every relay process given the same
   * URL (relay/store-postgres.ts).
   */
  store: string;
  /** With a shared store: how often to read the heads of loaded rooms, in case a notification was lost, ms. */
  storePollMs: number;
  /**
   * Largest WebSocket message the relay reads, in bytes; a larger one is refused with 4413. Incoming messages are
   * bounded by what a stock y-websocket client sends in one piece: a node restoring a wiped relay sends its whole
   * epoch in one sync step 2 (about 360 B per 300-byte entry), so this is deliberately larger than the sync chunk.
   */
  maxFrameBytes: number;
  /** Largest `log` value (one sealed event), in bytes. */
  maxValueBytes: number;
  /** Per-connection token bucket: sustained messages per second … */
  messagesPerSecond: number;
  /** … and burst size, in messages. */
  messageBurst: number;
  /** Open WebSocket connections per remote IP address. */
  maxConnectionsPerIp: number;
  /** Rooms loaded in memory at once (idle ones are unloaded first). */
  maxRooms: number;
  /** Rooms one multiplexed connection (/mux) may have open at once. */
  maxRoomsPerConnection: number;
  /** Rooms a multiplexed connection may open per second, beyond a burst of maxRoomsPerConnection. */
  roomOpensPerSecond: number;
  /** A loaded room without connections is unloaded from memory after this many milliseconds. */
  roomIdleTtlMs: number;
  /** A room nobody connected to for this many milliseconds is deleted from disk; 0 keeps rooms forever. */
  diskTtlMs: number;
  /** Interval of the maintenance pass (unload idle rooms, expire rooms past diskTtlMs, WAL checkpoint), ms. */
  compactionIntervalMs: number;
  /** The answer to a sync step 1 is sent in messages of at most about this many bytes … */
  syncChunkBytes: number;
  /** … and at most this many entries each. */
  syncChunkEntries: number;
  /** WebSocket ping interval, ms; a socket that has not answered the previous ping is terminated. */
  pingIntervalMs: number;
  /**
   * Bytes a connection's send buffer (ws `bufferedAmount`) may hold before the relay stops feeding it: the message
   * is dropped and the connection closed with 4509 (it missed an update, and only a reconnect resyncs it).
   */
  maxBufferedBytes: number;
  /** A connection closed for backpressure that has not completed the close within this many ms is terminated. */
  backpressureGraceMs: number;
  /** Per-connection token bucket for sync step 1 requests (each answered with the room): per second … */
  syncStep1PerSecond: number;
  /** … and burst, in requests. */
  syncStep1Burst: number;
  /** Per-connection token bucket for awareness updates and queries (over it they are dropped, counted): per second … */
  awarenessPerSecond: number;
  /** … and burst, in messages. */
  awarenessBurst: number;
  /** Largest awareness update a connection may send (all its states together), in bytes. */
  maxAwarenessBytes: number;
  /** Bytes of entry values one room may hold; an update that would pass it is refused (4520 `room-quota`). */
  roomQuotaBytes: number;
  /** Bytes of entry values the whole store may hold; an update that would pass it is refused (4521 `disk-quota`). */
  diskQuotaBytes: number;
}

/** The options a room enforces itself (relay/room.ts). */
export interface RoomLimits {
  maxValueBytes: number;
  syncChunkBytes: number;
  syncChunkEntries: number;
  maxAwarenessBytes: number;
  roomQuotaBytes: number;
  diskQuotaBytes: number;
}

export const RELAY_DEFAULTS: Omit<RelayOptions, 'dataDir'> = {
  host: '127.0.0.1',
  port: 4455,
  store: '',
  storePollMs: 2000,
  maxFrameBytes: 32 * 1024 * 1024,
  maxValueBytes: MAX_SEALED_BYTES,
  messagesPerSecond: 500,
  messageBurst: 2000,
  maxConnectionsPerIp: 256,
  maxRooms: 10_000,
  maxRoomsPerConnection: 10_000,
  roomOpensPerSecond: 200,
  roomIdleTtlMs: 10 * 60_000,
  diskTtlMs: 90 * 24 * 3_600_000,
  compactionIntervalMs: 60_000,
  syncChunkBytes: 256 * 1024,
  syncChunkEntries: 2000,
  pingIntervalMs: 15_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  backpressureGraceMs: 10_000,
  syncStep1PerSecond: 1,
  syncStep1Burst: 10,
  awarenessPerSecond: 20,
  awarenessBurst: 100,
  maxAwarenessBytes: 64 * 1024,
  roomQuotaBytes: 1024 ** 3,
  diskQuotaBytes: 64 * 1024 ** 3,
};

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(parleyHome(env), 'relay');
}

/** Defaults merged with overrides (undefined overrides are ignored), validated; throws TypeError naming the option. */
export function relayOptions(overrides: Partial<RelayOptions> = {}): RelayOptions {
  const defined = Object.fromEntries(
    Object.entries(overrides).filter(([, v]) => v !== undefined),
  ) as Partial<RelayOptions>;
  const o: RelayOptions = { ...RELAY_DEFAULTS, dataDir: defaultDataDir(), ...defined };
  if (typeof o.host !== 'string' || o.host === '') throw new TypeError('relay option host must be a non-empty string');
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)
    throw new TypeError(`relay option port must be an integer 0-65535, got ${o.port}`);
  if (typeof o.dataDir !== 'string' || o.dataDir === '')
    throw new TypeError('relay option dataDir must be a non-empty string');
  const positive: (keyof RelayOptions)[] = [
    'maxFrameBytes',
    'maxValueBytes',
    'messagesPerSecond',
    'messageBurst',
    'maxConnectionsPerIp',
    'maxRooms',
    'maxRoomsPerConnection',
    'roomOpensPerSecond',
    'roomIdleTtlMs',
    'compactionIntervalMs',
    'syncChunkBytes',
    'syncChunkEntries',
    'pingIntervalMs',
    'storePollMs',
    'maxBufferedBytes',
    'backpressureGraceMs',
    'syncStep1PerSecond',
    'syncStep1Burst',
    'awarenessPerSecond',
    'awarenessBurst',
    'maxAwarenessBytes',
    'roomQuotaBytes',
    'diskQuotaBytes',
  ];
  for (const k of positive) {
    const v = o[k];
    if (typeof v !== 'number' || !(v > 0))
      throw new TypeError(`relay option ${k} must be a positive number, got ${String(v)}`);
  }
  if (!(o.diskTtlMs >= 0)) throw new TypeError(`relay option diskTtlMs must be >= 0, got ${o.diskTtlMs}`);
  if (typeof o.store !== 'string') throw new TypeError('relay option store must be a string');
  parseStoreSpec(o.store, o.dataDir);
  if (o.maxValueBytes >= o.maxFrameBytes)
    throw new TypeError('relay option maxValueBytes must be smaller than maxFrameBytes');
  // A bound below one chunk would close every joiner of a big room: the initial sync itself must fit.
  if (o.maxBufferedBytes < 2 * o.syncChunkBytes)
    throw new TypeError('relay option maxBufferedBytes must be at least twice syncChunkBytes');
  if (o.maxAwarenessBytes > o.maxBufferedBytes)
    throw new TypeError('relay option maxAwarenessBytes must not exceed maxBufferedBytes');
  return o;
}

/**
 * Parses a byte count for the command line: an integer, optionally with KiB, MiB, GiB or TiB. Throws TypeError with
 * a one-line message naming the option.
 */
export function parseBytes(option: string, text: string): number {
  const m = /^(\d+)\s*(KiB|MiB|GiB|TiB)?$/.exec(text.trim());
  if (!m)
    throw new TypeError(`${option} must be a number of bytes (e.g. 1073741824 or 1GiB), got ${JSON.stringify(text)}`);
  const n = Number(m[1]) * 1024 ** ['', 'KiB', 'MiB', 'GiB', 'TiB'].indexOf(m[2] ?? '');
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new TypeError(`${option} must be a positive number of bytes, got ${JSON.stringify(text)}`);
  return n;
}

/** A command-line count: a positive whole number, or one sentence naming the option. */
export function parseCount(option: string, text: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new TypeError(`${option} must be a positive whole number, got ${JSON.stringify(text)}`);
  return n;
}

/** WebSocket close codes sent by the relay (4xxx = application range; 1001 = going away). */
export const CLOSE = {
  refused: 4400,
  auth: 4401,
  rateLimit: 4408,
  tooLarge: 4413,
  tooManyConnections: 4429,
  tooManyRooms: 4503,
  /** The store failed to write (disk full, I/O error): the writer reconnects and resends later. */
  storeWriteFailed: 4507,
  /** The connection's send buffer passed maxBufferedBytes: it was not fed, and reconnecting resyncs it. */
  backpressure: 4509,
  roomQuota: 4520,
  diskQuota: 4521,
  /** The store cannot take writes right now (PostgreSQL away); clients reconnect and resend. */
  tryAgainLater: 1013,
  shutdown: 1001,
} as const;

/** Reasons the relay refuses a connection's message with, besides the validator's (which close with 4400). */
export type RelayRefusal =
  | 'sync-rate-limit'
  | 'awareness-oversize'
  | 'disk-full'
  | 'store-error'
  | 'room-quota'
  | 'disk-quota';

/** The close code of a refusal reason; every reason not listed here is a refused update (4400). */
export function closeCodeFor(reason: string): number {
  switch (reason) {
    case 'sync-rate-limit':
      return CLOSE.rateLimit;
    case 'awareness-oversize':
      return CLOSE.tooLarge;
    case 'disk-full':
    case 'store-error':
      return CLOSE.storeWriteFailed;
    case 'room-quota':
      return CLOSE.roomQuota;
    case 'disk-quota':
      return CLOSE.diskQuota;
    default:
      return CLOSE.refused;
  }
}
