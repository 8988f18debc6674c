/**
 * The relay's durable log behind one small interface, with two implementations: SQLite (relay/store-sqlite.ts, one
 * process, the default) and PostgreSQL (relay/store-postgres.ts, any number of relay processes on one database).
 *
 * Every room's entries carry a cursor (`seq`) that grows with commit order within the room, so a process that has
 * read up to cursor n has seen every entry of that room committed before it; entries other processes appended are
 * read back with `since` when the store rings (`watch`) or when the relay polls `heads`.
 */
import type { LogEntry } from '../protocol/log-update.js';

export interface StoredRows {
  /** Entries in an order that keeps each Yjs client's clocks consecutive. */
  entries: LogEntry[];
  /** Cursor after the last entry returned (the argument of `since` when there was none). */
  cursor: number;
}

export interface AppendResult {
  /** The entries that were new and are now committed; the others were already stored (by another process). */
  stored: LogEntry[];
  /**
   * The room's cursor after this append when nothing else was appended to the room since `cursor` (the caller is
   * up to date); null when it must read `since(cursor)`, which then includes `stored` too.
   */
  cursor: number | null;
}

export interface StoreEvents {
  /** Another process may have appended to `room` up to `cursor`; `sentAt` = ms timestamp of the append. */
  appended(room: string, cursor: number, sentAt: number): void;
  /** The store went away (`up` false, with why) or came back; while away, appends and loads fail. */
  status(up: boolean, why: string): void;
  /** Notifications may have been lost (the listener reconnected): the relay reads the heads of its rooms. */
  missed(): void;
}

/** Bytes of entry values in the whole store, shared by the rooms of one relay (for the disk quota). */
export interface StoreUsage {
  bytes: number;
}

export interface RelayStore {
  /** For logs: `sqlite <file>` or `postgres <host:port/db>` (never a password). */
  readonly description: string;
  /** True when other processes may append to the same rooms: the relay then watches and polls. */
  readonly shared: boolean;
  load(room: string): Promise<StoredRows>;
  /** Entries of a room after `cursor`, at most `limit` of them, in cursor order. */
  since(room: string, cursor: number, limit: number): Promise<StoredRows>;
  /**
   * Stores new entries of one room in one transaction (on PostgreSQL one round trip); they are durable when this
   * resolves. The relay hands it a batch: the new entries of every update the room received in one event-loop turn.
   */
  append(room: string, entries: readonly LogEntry[], cursor: number, now: number): Promise<AppendResult>;
  /** Appends this handle committed (one transaction each), for tests and benchmarks. */
  readonly appends: number;
  /** Records that rooms were used at `now` (for the disk TTL). */
  touch(rooms: readonly string[], now: number): Promise<void>;
  /** The latest cursor of each of these rooms that has entries (the polling fallback of `watch`). */
  heads(rooms: readonly string[]): Promise<Map<string, number>>;
  /** Deletes rooms last used before `before`, except those in `keep`; returns the names deleted. */
  expire(before: number, keep: ReadonlySet<string>): Promise<string[]>;
  /** Bytes of entry values stored, over all rooms (for the disk quota). */
  usage(): Promise<number>;
  /** Periodic housekeeping (SQLite: WAL checkpoint). */
  maintain(): Promise<void>;
  /** Starts reporting other processes' appends and the store's availability. */
  watch(events: StoreEvents): Promise<void>;
  close(): Promise<void>;
}

/** Thrown by a store operation when the database cannot be reached; the relay refuses the write, not the client. */
export class StoreUnavailableError extends Error {
  constructor(why: string) {
    super(`store unavailable: ${why}`);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * Why a store write failed, as the refusal reason a writer is closed with: `disk-full` when the disk (or database)
 * is out of space (SQLite SQLITE_FULL, ENOSPC, PostgreSQL 53100), `store-error` for anything else.
 */
export function storeFailureReason(err: unknown): 'disk-full' | 'store-error' {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === '53100' || /disk is full|no space left/i.test(message))
    return 'disk-full';
  return 'store-error';
}

export type StoreSpec = { kind: 'sqlite'; dataDir: string } | { kind: 'postgres'; url: string; display: string };

/**
 * Parses `--store`: a `postgres://` or `postgresql://` URL (any libpq URL with a host and a database). Throws
 * TypeError with a one-line message naming what is wrong; the password never appears in it.
 */
export function parseStoreSpec(store: string | undefined, dataDir: string): StoreSpec {
  if (store === undefined || store === '') return { kind: 'sqlite', dataDir };
  let url: URL;
  try {
    url = new URL(store);
  } catch {
    throw new TypeError('--store must be a postgres://USER@HOST:PORT/DB URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new TypeError(`--store must be a postgres:// URL, got ${url.protocol}//…`);
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (url.hostname === '' && !url.searchParams.has('host'))
    throw new TypeError('--store URL has no host (postgres://USER@HOST:PORT/DB)');
  if (database === '' || database.includes('/'))
    throw new TypeError('--store URL names no database (postgres://USER@HOST:PORT/DB)');
  if (url.port !== '' && !(Number(url.port) > 0)) throw new TypeError(`--store URL has a bad port: ${url.port}`);
  const display = `${url.hostname || url.searchParams.get('host')}${url.port ? `:${url.port}` : ''}/${database}`;
  return { kind: 'postgres', url: store, display };
}

export async function openStore(spec: StoreSpec): Promise<RelayStore> {
  if (spec.kind === 'sqlite') {
    const { SqliteStore } = await import('./store-sqlite.js');
    return new SqliteStore(spec.dataDir);
  }
  const { PostgresStore } = await import('./store-postgres.js');
  return PostgresStore.open(spec.url, spec.display);
}
