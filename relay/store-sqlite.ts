/**
 * Durable relay storage for one relay process: better-sqlite3 in WAL mode, one file `relay.sqlite` in the data
 * directory.
 *
 *   entries (seq, room, key, client, clock, value)   one row per accepted `log` entry, with the Yjs id it was
 *                                                    created under, so the exact items can be re-encoded
 *   rooms   (room, last_seen)                        for the disk TTL
 *
 * Entries rather than raw Yjs updates: a room's state is rebuilt by encoding its rows (relay/validate.ts
 * `encodeEntries`), duplicates never reach the disk, and there is nothing to merge. `append` commits before it
 * resolves (the caller broadcasts only after it). `synchronous = NORMAL` in WAL mode keeps every committed
 * transaction across a killed process; only an OS crash or power loss can lose the last few.
 *
 * better-sqlite3 is synchronous: every method does its work before returning an already-settled promise.
 *
 * Test hook: with PARLEY_RELAY_FAULT_APPEND=FILE, appends and touches fail with SQLITE_FULL while FILE exists, so a
 * test can make the disk "full" for a while and then free it, from outside the process.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AppendResult, RelayStore, StoredRows } from './store.js';
import type { LogEntry } from '../protocol/log-update.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  seq    INTEGER PRIMARY KEY,
  room   TEXT    NOT NULL,
  key    TEXT    NOT NULL,
  client INTEGER NOT NULL,
  clock  INTEGER NOT NULL,
  value  BLOB    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS entries_room_key ON entries (room, key);
CREATE UNIQUE INDEX IF NOT EXISTS entries_room_id ON entries (room, client, clock);
CREATE TABLE IF NOT EXISTS rooms (room TEXT PRIMARY KEY, last_seen INTEGER NOT NULL) WITHOUT ROWID;
`;

type Row = { seq: number; key: string; client: number; clock: number; value: Buffer };
const toEntry = (r: Row): LogEntry => ({
  key: r.key,
  client: r.client,
  clock: r.clock,
  value: new Uint8Array(r.value),
});

export class SqliteStore implements RelayStore {
  readonly file: string;
  readonly description: string;
  readonly shared = false;
  appends = 0;
  private readonly db: Database.Database;
  private readonly insertEntry: Database.Statement;
  private readonly selectRoom: Database.Statement;
  private readonly selectSince: Database.Statement;
  private readonly selectHead: Database.Statement;
  private readonly upsertRoom: Database.Statement;
  private readonly selectExpired: Database.Statement;
  private readonly deleteEntries: Database.Statement;
  private readonly deleteRoom: Database.Statement;
  private readonly appendTx: (room: string, entries: readonly LogEntry[]) => number;
  private readonly sumValues: Database.Statement;
  private readonly faultFile = process.env.PARLEY_RELAY_FAULT_APPEND ?? '';

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.file = join(dataDir, 'relay.sqlite');
    this.description = `sqlite ${this.file}`;
    this.db = new Database(this.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.insertEntry = this.db.prepare('INSERT INTO entries (room, key, client, clock, value) VALUES (?, ?, ?, ?, ?)');
    this.selectRoom = this.db.prepare(
      'SELECT seq, key, client, clock, value FROM entries WHERE room = ? ORDER BY client, clock',
    );
    this.selectSince = this.db.prepare(
      'SELECT seq, key, client, clock, value FROM entries WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?',
    );
    this.selectHead = this.db.prepare('SELECT MAX(seq) AS seq FROM entries WHERE room = ?');
    this.upsertRoom = this.db.prepare(
      'INSERT INTO rooms (room, last_seen) VALUES (?, ?) ON CONFLICT (room) DO UPDATE SET last_seen = ' +
        'excluded.last_seen',
    );
    this.selectExpired = this.db.prepare('SELECT room FROM rooms WHERE last_seen < ?');
    this.deleteEntries = this.db.prepare('DELETE FROM entries WHERE room = ?');
    this.deleteRoom = this.db.prepare('DELETE FROM rooms WHERE room = ?');
    this.sumValues = this.db.prepare('SELECT coalesce(sum(length(value)), 0) AS bytes FROM entries');
    this.appendTx = this.db.transaction((room: string, entries: readonly LogEntry[]) => {
      let seq = 0;
      for (const e of entries)
        seq = Number(this.insertEntry.run(room, e.key, e.client, e.clock, e.value).lastInsertRowid);
      return seq;
    });
  }

  async load(room: string): Promise<StoredRows> {
    const rows = this.selectRoom.all(room) as Row[];
    let cursor = 0;
    for (const r of rows) if (r.seq > cursor) cursor = r.seq;
    return { entries: rows.map(toEntry), cursor };
  }

  async since(room: string, cursor: number, limit: number): Promise<StoredRows> {
    const rows = this.selectSince.all(room, cursor, limit) as Row[];
    return { entries: rows.map(toEntry), cursor: rows.length > 0 ? rows[rows.length - 1].seq : cursor };
  }

  /** One writer: the room's cursor can only have moved by this append. */
  async append(room: string, entries: readonly LogEntry[], cursor: number): Promise<AppendResult> {
    if (entries.length === 0) return { stored: [], cursor };
    this.injectedFault();
    const seq = this.appendTx(room, entries);
    this.appends++;
    return { stored: [...entries], cursor: seq };
  }

  private injectedFault(): void {
    if (this.faultFile !== '' && existsSync(this.faultFile)) {
      throw new Database.SqliteError('database or disk is full (PARLEY_RELAY_FAULT_APPEND)', 'SQLITE_FULL');
    }
  }

  async usage(): Promise<number> {
    return (this.sumValues.get() as { bytes: number }).bytes;
  }

  async touch(rooms: readonly string[], now: number): Promise<void> {
    this.injectedFault();
    for (const room of rooms) this.upsertRoom.run(room, now);
  }

  async heads(rooms: readonly string[]): Promise<Map<string, number>> {
    const heads = new Map<string, number>();
    for (const room of rooms) {
      const { seq } = this.selectHead.get(room) as { seq: number | null };
      if (seq !== null) heads.set(room, seq);
    }
    return heads;
  }

  async expire(before: number, keep: ReadonlySet<string>): Promise<string[]> {
    const rooms = (this.selectExpired.all(before) as { room: string }[]).map((r) => r.room).filter((r) => !keep.has(r));
    if (rooms.length === 0) return rooms;
    this.db.transaction(() => {
      for (const room of rooms) {
        this.deleteEntries.run(room);
        this.deleteRoom.run(room);
      }
    })();
    return rooms;
  }

  /** Compaction: fold the WAL back into the database file and truncate it; let SQLite refresh its statistics. */
  async maintain(): Promise<void> {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.pragma('optimize');
  }

  /** Nobody else writes this file: nothing to watch, and it is always up. */
  async watch(): Promise<void> {}

  /** Checkpoints and closes; safe to call twice. */
  async close(): Promise<void> {
    if (!this.db.open) return;
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.db.close();
    }
  }
}
