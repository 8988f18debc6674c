/**
 * Durable relay storage: better-sqlite3 in WAL mode, one file `relay.sqlite` in the data directory.
 *
 *   entries (seq, room, key, client, clock, value)   one row per accepted `log` entry, with the Yjs id it was
 *                                                    created under, so the exact items can be re-encoded
 *   rooms   (room, last_seen)                        for the disk TTL
 *
 * Entries rather than raw Yjs updates: a room's state is rebuilt by encoding its rows (relay/validate.ts
 * `encodeEntries`), duplicates never reach the disk, and there is nothing to merge. `append` commits before it
 * returns (the caller broadcasts only after it). `synchronous = NORMAL` in WAL mode keeps every committed
 * transaction across a killed process; only an OS crash or power loss can lose the last few.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LogEntry } from './validate.js';

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

export class RelayStorage {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly insertEntry: Database.Statement;
  private readonly selectRoom: Database.Statement;
  private readonly upsertRoom: Database.Statement;
  private readonly selectExpired: Database.Statement;
  private readonly deleteEntries: Database.Statement;
  private readonly deleteRoom: Database.Statement;
  private readonly countRooms: Database.Statement;
  private readonly appendTx: (room: string, entries: readonly LogEntry[]) => void;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.file = join(dataDir, 'relay.sqlite');
    this.db = new Database(this.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.insertEntry = this.db.prepare('INSERT INTO entries (room, key, client, clock, value) VALUES (?, ?, ?, ?, ?)');
    this.selectRoom = this.db.prepare('SELECT key, client, clock, value FROM entries WHERE room = ? ORDER BY client, clock');
    this.upsertRoom = this.db.prepare(
      'INSERT INTO rooms (room, last_seen) VALUES (?, ?) ON CONFLICT (room) DO UPDATE SET last_seen = excluded.last_seen',
    );
    this.selectExpired = this.db.prepare('SELECT room FROM rooms WHERE last_seen < ?');
    this.deleteEntries = this.db.prepare('DELETE FROM entries WHERE room = ?');
    this.deleteRoom = this.db.prepare('DELETE FROM rooms WHERE room = ?');
    this.countRooms = this.db.prepare('SELECT COUNT(*) AS n FROM rooms');
    this.appendTx = this.db.transaction((room: string, entries: readonly LogEntry[]) => {
      for (const e of entries) this.insertEntry.run(room, e.key, e.client, e.clock, e.value);
    });
  }

  /** Stores entries of one room in one transaction; durable when this returns. */
  append(room: string, entries: readonly LogEntry[]): void {
    if (entries.length > 0) this.appendTx(room, entries);
  }

  /** All entries of a room, ordered by client then clock. */
  load(room: string): LogEntry[] {
    const rows = this.selectRoom.all(room) as { key: string; client: number; clock: number; value: Buffer }[];
    return rows.map((r) => ({ key: r.key, client: r.client, clock: r.clock, value: new Uint8Array(r.value) }));
  }

  /** Records that a room was used at `now` (for the disk TTL). */
  touch(room: string, now: number = Date.now()): void {
    this.upsertRoom.run(room, now);
  }

  roomCount(): number {
    return (this.countRooms.get() as { n: number }).n;
  }

  /** Deletes rooms last seen before `before`, except those in `keep`; returns the names deleted. */
  expire(before: number, keep: ReadonlySet<string> = new Set()): string[] {
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
  compact(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.pragma('optimize');
  }

  /** Checkpoints and closes; safe to call twice. */
  close(): void {
    if (!this.db.open) return;
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.db.close();
    }
  }
}
