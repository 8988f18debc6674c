/**
 * The node's local store (SQLite, WAL): channels, epoch keys, every channel document update, the delivered-event
 * index with gap-free delivery numbers, cursors, bot verification marks and the audit log.
 *
 * Several `parley mcp` processes may share one profile: all writes are idempotent (deliveries are INSERT OR IGNORE
 * keyed by channel, author and seq), and each process picks up the others' document updates by polling
 * `doc_updates` past a row id.
 *
 * Over 400 lines: one class over one database, each table's statements beside the others that share its indexes and
 * transactions; the schema above them is the map.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Checkpointer } from './checkpointer.js';

export interface ChannelRow {
  ch: string;
  name: string;
  slot: string;
  owner: string;
  relays: string[];
  epoch: number;
  closed: boolean;
  expires_at: number | null;
  created_at: number;
  status: 'active' | 'left' | 'rejected';
}

/** One epoch a dormant channel keeps linked, and its document's state vector when it went dormant. */
export interface DormantEpoch {
  ep: number;
  sv: Uint8Array;
}

export interface DeliveredRow {
  dnum: number;
  ch: string;
  ep: number;
  id: string;
  type: string;
  author: string;
  /** The author's chain position; null only in rows written before the column existed. */
  seq: number | null;
  lamport: number;
  ts: number;
  body: string;
  sig: Uint8Array;
}

/** An authentic event (its signature holds) that membership refused: kept as evidence for export. */
export interface RefusedRow {
  id: string;
  body: string;
  sig: Uint8Array;
  reason: string;
}

/** Evidence kept per channel; beyond this a flood of refused events is only counted (verify_channel). */
export const MAX_REFUSED_ROWS = 1000;

export interface AuditRow {
  at: number;
  tool: string;
  channel: string | null;
  outcome: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS channels (
  ch TEXT PRIMARY KEY, name TEXT NOT NULL, slot TEXT NOT NULL, owner TEXT NOT NULL, relays TEXT NOT NULL,
  epoch INTEGER NOT NULL DEFAULT 0, closed INTEGER NOT NULL DEFAULT 0, expires_at INTEGER,
  created_at INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'active');
CREATE TABLE IF NOT EXISTS epochs (ch TEXT NOT NULL, ep INTEGER NOT NULL, key BLOB NOT NULL, PRIMARY KEY (ch, ep));
CREATE TABLE IF NOT EXISTS doc_updates (row INTEGER PRIMARY KEY AUTOINCREMENT, ch TEXT NOT NULL, ep INTEGER NOT NULL,
  writer TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS doc_updates_ch ON doc_updates (ch, ep, row);
-- One row per (channel, author, seq), enforced by delivered_chain below (created after the migration that adds
-- seq to older stores). Stores made before that also keep their UNIQUE (id).
CREATE TABLE IF NOT EXISTS delivered (dnum INTEGER PRIMARY KEY AUTOINCREMENT, ch TEXT NOT NULL, ep INTEGER NOT NULL,
  id TEXT NOT NULL, type TEXT NOT NULL, author TEXT NOT NULL, lamport INTEGER NOT NULL, ts INTEGER NOT NULL,
  body TEXT NOT NULL, sig BLOB NOT NULL, seq INTEGER);
CREATE INDEX IF NOT EXISTS delivered_ch ON delivered (ch, dnum);
CREATE TABLE IF NOT EXISTS my_heads (ch TEXT PRIMARY KEY, seq INTEGER NOT NULL, id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (scope TEXT PRIMARY KEY, dnum INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS secrets (ch TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (ch, name));
CREATE TABLE IF NOT EXISTS marks (ch TEXT NOT NULL, step TEXT NOT NULL, status TEXT NOT NULL, PRIMARY KEY (ch, step));
CREATE TABLE IF NOT EXISTS refused (ch TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, sig BLOB NOT NULL,
  reason TEXT NOT NULL, PRIMARY KEY (ch, id));
-- A channel left dormant (node/dormant.ts): the epochs it keeps linked, each with its document's state vector, as
-- of its last document row. It starts dormant while no document row of it is newer.
CREATE TABLE IF NOT EXISTS dormant (ch TEXT PRIMARY KEY, doc_row INTEGER NOT NULL, epochs TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (row INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, tool TEXT NOT NULL,
  channel TEXT, outcome TEXT NOT NULL);
`;

/** A store that SQLite cannot read: one sentence saying what to do, instead of a driver error. */
export class DamagedStoreError extends Error {
  override name = 'DamagedStoreError';
}

/**
 * Opens the store and reads its header (SQLite opens lazily, so a damaged file only shows on the first read). Keys
 * and history are recoverable from the network, the identity is a separate file: moving the file away loses
 * nothing that cannot be had again (docs/recovery.md).
 */
function openDatabase(path: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(path);
    db.pragma('schema_version');
    return db;
  } catch (err) {
    db?.close();
    const code = (err as { code?: string }).code ?? '';
    if (!/^SQLITE_(NOTADB|CORRUPT)/.test(code)) throw err;
    throw new DamagedStoreError(
      `The local store ${path} is damaged (${(err as Error).message}). Move it away (mv ${path} ${path}.damaged) ` +
        `and start again: your identity is kept, and joining each channel again with its invite code brings back its ` +
        `history and every epoch key (docs/recovery.md).`,
    );
  }
}

export class LocalStore {
  readonly db: Database.Database;
  readonly checkpointer: Checkpointer;
  private closed = false;
  private readonly afterCommitQueue: (() => void)[] = [];

  /** `checkpointWorker: false` for short-lived processes (CLI reads): no thread starts, SQLite checkpoints inline. */
  constructor(home: string, opts: { file?: string; checkpointWorker?: boolean } = {}) {
    const path = join(home, opts.file ?? 'node.sqlite');
    this.db = openDatabase(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    // A long join writes 100k rows and their index entries: a larger page cache keeps those pages from being read
    // and written over and over (measured by `npm run bench -- join`).
    this.db.pragma('cache_size = -65536');
    this.db.exec(SCHEMA);
    this.migrate();
    // The checkpoint window is the Checkpointer's to set: a worker thread once the schema exists (its connection
    // opens the same file), or SQLite's own checkpoints.
    this.checkpointer = new Checkpointer(this.db, path, opts.checkpointWorker ?? true);
  }

  /**
   * Deliveries are unique by (channel, author, seq) rather than by event id. Within one channel the two are the
   * same thing for delivered events (the ingest pipeline refuses a second event at an author's seq as
   * equivocation), but ids are random, so an index on them is rewritten page by page on every commit of a long
   * join, while an author's seqs grow: their index entries land on a few pages.
   */
  private migrate(): void {
    const columns = this.db.prepare(`PRAGMA table_info(delivered)`).all() as { name: string }[];
    // Older stores: the column is null in their existing rows, which their UNIQUE (id) still covers.
    if (!columns.some((c) => c.name === 'seq')) this.db.exec(`ALTER TABLE delivered ADD COLUMN seq INTEGER`);
    this.db.exec(`CREATE UNIQUE INDEX IF NOT EXISTS delivered_chain ON delivered (ch, author, seq)`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.checkpointer.close();
    this.db.close();
  }

  private readonly statements = new Map<string, Database.Statement>();

  /** A prepared statement, prepared once per text (preparing costs more than running most of these). */
  private sql(text: string): Database.Statement {
    let st = this.statements.get(text);
    if (!st) {
      st = this.db.prepare(text);
      this.statements.set(text, st);
    }
    return st;
  }

  /**
   * Runs `fn` in a transaction (a savepoint when nested). Work queued with `afterCommit` inside it runs once the
   * outermost transaction has committed, and is dropped with whatever part of it rolled back.
   */
  transaction<T>(fn: () => T): T {
    const mark = this.afterCommitQueue.length;
    let result: T;
    try {
      result = this.db.transaction(fn).immediate();
    } catch (err) {
      this.afterCommitQueue.length = mark;
      throw err;
    }
    if (!this.db.inTransaction) {
      this.checkpointer.poke();
      for (const job of this.afterCommitQueue.splice(0)) job();
    }
    return result;
  }

  /** Runs `job` once what is being written now is durable: after the outermost commit, or at once outside one. */
  afterCommit(job: () => void): void {
    if (this.db.inTransaction) this.afterCommitQueue.push(job);
    else job();
  }

  // channels

  saveChannel(c: ChannelRow): void {
    this.sql(
      `INSERT INTO channels (ch, name, slot, owner, relays, epoch, closed, expires_at, created_at, status)
         VALUES (@ch, @name, @slot, @owner, @relays, @epoch, @closed, @expires_at, @created_at, @status)
         ON CONFLICT (ch) DO UPDATE SET name=@name, slot=@slot, owner=@owner, relays=@relays, epoch=@epoch,
           closed=@closed, expires_at=@expires_at, status=@status`,
    ).run({ ...c, relays: JSON.stringify(c.relays), closed: c.closed ? 1 : 0 });
  }

  channels(): ChannelRow[] {
    return (this.sql(`SELECT * FROM channels ORDER BY created_at, ch`).all() as Record<string, unknown>[]).map(
      toChannel,
    );
  }

  channel(ch: string): ChannelRow | undefined {
    const row = this.sql(`SELECT * FROM channels WHERE ch = ?`).get(ch) as Record<string, unknown> | undefined;
    return row ? toChannel(row) : undefined;
  }

  saveEpochKey(ch: string, ep: number, key: Uint8Array): void {
    this.sql(`INSERT OR IGNORE INTO epochs (ch, ep, key) VALUES (?, ?, ?)`).run(ch, ep, key);
  }

  epochKeys(ch: string): { ep: number; key: Uint8Array }[] {
    return (
      this.sql(`SELECT ep, key FROM epochs WHERE ch = ? ORDER BY ep`).all(ch) as { ep: number; key: Buffer }[]
    ).map((r) => ({
      ep: r.ep,
      key: new Uint8Array(r.key),
    }));
  }

  /** Every channel's epoch keys in one query (start-up links thousands of dormant channels at once). */
  allEpochKeys(): Map<string, Map<number, Uint8Array>> {
    const out = new Map<string, Map<number, Uint8Array>>();
    for (const r of this.sql(`SELECT ch, ep, key FROM epochs`).all() as { ch: string; ep: number; key: Buffer }[]) {
      let keys = out.get(r.ch);
      if (!keys) {
        keys = new Map();
        out.set(r.ch, keys);
      }
      keys.set(r.ep, new Uint8Array(r.key));
    }
    return out;
  }

  setSecret(ch: string, name: string, value: string): void {
    this.sql(`INSERT OR REPLACE INTO secrets (ch, name, value) VALUES (?, ?, ?)`).run(ch, name, value);
  }

  secret(ch: string, name: string): string | undefined {
    return (
      this.sql(`SELECT value FROM secrets WHERE ch = ? AND name = ?`).get(ch, name) as { value: string } | undefined
    )?.value;
  }

  // document updates

  addDocUpdate(ch: string, ep: number, writer: string, data: Uint8Array): number {
    return Number(
      this.sql(`INSERT INTO doc_updates (ch, ep, writer, data) VALUES (?, ?, ?, ?)`).run(ch, ep, writer, data)
        .lastInsertRowid,
    );
  }

  docUpdatesSince(ch: string, ep: number, afterRow: number): { row: number; writer: string; data: Uint8Array }[] {
    return (
      this.sql(`SELECT row, writer, data FROM doc_updates WHERE ch = ? AND ep = ? AND row > ? ORDER BY row`).all(
        ch,
        ep,
        afterRow,
      ) as { row: number; writer: string; data: Buffer }[]
    ).map((r) => ({ row: r.row, writer: r.writer, data: new Uint8Array(r.data) }));
  }

  /** Replaces all rows of one document with a single merged update (same content, fewer rows). */
  compactDoc(ch: string, ep: number, writer: string, merged: Uint8Array, upToRow: number): void {
    this.transaction(() => {
      this.sql(`DELETE FROM doc_updates WHERE ch = ? AND ep = ? AND row <= ?`).run(ch, ep, upToRow);
      this.addDocUpdate(ch, ep, writer, merged);
    });
  }

  /** The last document update row id (any channel, any writer): one index lookup, for the node's idle poll. */
  maxDocRow(): number {
    return (this.sql(`SELECT COALESCE(MAX(row), 0) AS m FROM doc_updates`).get() as { m: number }).m;
  }

  /** Channels with document updates after `afterRow` that another writer (process) stored. */
  docsWrittenSince(afterRow: number, notWriter: string): string[] {
    return (
      this.sql(`SELECT DISTINCT ch FROM doc_updates WHERE row > ? AND writer != ?`).all(afterRow, notWriter) as {
        ch: string;
      }[]
    ).map((r) => r.ch);
  }

  /**
   * Records a channel as dormant: the epochs it keeps linked and each document's state vector now. Valid until any
   * document row of the channel is newer (`dormantChannels`).
   */
  saveDormant(ch: string, epochs: DormantEpoch[]): void {
    const { m } = this.sql(`SELECT COALESCE(MAX(row), 0) AS m FROM doc_updates WHERE ch = ?`).get(ch) as { m: number };
    const json = JSON.stringify(epochs.map((e) => ({ ep: e.ep, sv: Buffer.from(e.sv).toString('base64') })));
    this.sql(`INSERT OR REPLACE INTO dormant (ch, doc_row, epochs) VALUES (?, ?, ?)`).run(ch, m, json);
  }

  /** Channels whose dormant record still holds: no document row of theirs was stored after it. */
  dormantChannels(): Map<string, DormantEpoch[]> {
    const rows = this.sql(
      `SELECT ch, epochs FROM dormant r WHERE r.doc_row >= (SELECT COALESCE(MAX(row), 0) FROM doc_updates d WHERE ` +
        `d.ch = r.ch)`,
    ).all() as { ch: string; epochs: string }[];
    const out = new Map<string, DormantEpoch[]>();
    for (const r of rows) {
      const epochs = JSON.parse(r.epochs) as { ep: number; sv: string }[];
      out.set(
        r.ch,
        epochs.map((e) => ({ ep: e.ep, sv: new Uint8Array(Buffer.from(e.sv, 'base64')) })),
      );
    }
    return out;
  }

  docUpdateCount(ch: string, ep: number): number {
    return (this.sql(`SELECT COUNT(*) AS n FROM doc_updates WHERE ch = ? AND ep = ?`).get(ch, ep) as { n: number }).n;
  }

  // delivery

  /**
   * Records a delivered event; returns its delivery number, or null if some process already delivered an event at
   * this (channel, author, seq): the same event, or the other half of an equivocation, which then stays out.
   */
  deliver(row: Omit<DeliveredRow, 'dnum' | 'seq'> & { seq: number }): number | null {
    const r = this.sql(
      `INSERT OR IGNORE INTO delivered (ch, ep, id, type, author, seq, lamport, ts, body, sig) VALUES (?, ?, ?, ?, ` +
        `?, ?, ?, ?, ?, ?)`,
    ).run(row.ch, row.ep, row.id, row.type, row.author, row.seq, row.lamport, row.ts, row.body, row.sig);
    return r.changes === 1 ? Number(r.lastInsertRowid) : null;
  }

  /** Delivered rows after a delivery number, oldest first (`sig` comes back as a Buffer, which is a Uint8Array). */
  deliveredSince(ch: string | null, afterDnum: number, limit: number): DeliveredRow[] {
    return this.since('*', ch, afterDnum, limit) as DeliveredRow[];
  }

  /**
   * What reading messages needs of the same rows: no signature, none of the columns the body repeats (reading a
   * long history spends 2.5× less time here than with whole rows; `npm run bench -- join --profile`).
   */
  messagesSince(
    ch: string | null,
    afterDnum: number,
    limit: number,
  ): Pick<DeliveredRow, 'dnum' | 'ch' | 'id' | 'body'>[] {
    return this.since('dnum, ch, id, body', ch, afterDnum, limit) as Pick<
      DeliveredRow,
      'dnum' | 'ch' | 'id' | 'body'
    >[];
  }

  private since(columns: string, ch: string | null, afterDnum: number, limit: number): unknown[] {
    return ch
      ? this.sql(`SELECT ${columns} FROM delivered WHERE ch = ? AND dnum > ? ORDER BY dnum LIMIT ?`).all(
          ch,
          afterDnum,
          limit,
        )
      : this.sql(
          `SELECT ${columns} FROM delivered WHERE dnum > ? AND ch IN (SELECT ch FROM channels WHERE status = ` +
            `'active') ORDER BY dnum LIMIT ?`,
        ).all(afterDnum, limit);
  }

  deliveredAll(ch: string): DeliveredRow[] {
    return this.deliveredSince(ch, 0, Number.MAX_SAFE_INTEGER);
  }

  deliveredCount(ch: string): number {
    return (this.sql(`SELECT COUNT(*) AS n FROM delivered WHERE ch = ?`).get(ch) as { n: number }).n;
  }

  /** Each channel's last delivery (its highest dnum), one index lookup per channel: list_channels sorts by it. */
  lastDelivered(): Map<string, number> {
    const rows = this.sql(
      `SELECT ch, (SELECT MAX(dnum) FROM delivered d WHERE d.ch = c.ch) AS last FROM channels c`,
    ).all() as { ch: string; last: number | null }[];
    return new Map(rows.map((r) => [r.ch, r.last ?? 0]));
  }

  maxDnum(): number {
    return (this.sql(`SELECT COALESCE(MAX(dnum), 0) AS m FROM delivered`).get() as { m: number }).m;
  }

  // own chain, one per channel across epochs (shared by processes on one profile: allocate under a transaction)

  myHead(ch: string): { seq: number; id: string } | undefined {
    return this.sql(`SELECT seq, id FROM my_heads WHERE ch = ?`).get(ch) as { seq: number; id: string } | undefined;
  }

  setMyHead(ch: string, seq: number, id: string): void {
    this.sql(`INSERT OR REPLACE INTO my_heads (ch, seq, id) VALUES (?, ?, ?)`).run(ch, seq, id);
  }

  // bot verification marks (for read-only views)

  setMark(ch: string, step: string, status: string): void {
    this.sql(`INSERT OR REPLACE INTO marks (ch, step, status) VALUES (?, ?, ?)`).run(ch, step, status);
  }

  mark(step: string): string | undefined {
    return (this.sql(`SELECT status FROM marks WHERE step = ?`).get(step) as { status: string } | undefined)?.status;
  }

  // refused events (evidence)

  addRefused(ch: string, r: RefusedRow): void {
    const { n } = this.sql(`SELECT COUNT(*) AS n FROM refused WHERE ch = ?`).get(ch) as { n: number };
    if (n < MAX_REFUSED_ROWS)
      this.sql(`INSERT OR IGNORE INTO refused (ch, id, body, sig, reason) VALUES (?, ?, ?, ?, ?)`).run(
        ch,
        r.id,
        r.body,
        r.sig,
        r.reason,
      );
  }

  refusedAll(ch: string): RefusedRow[] {
    return this.sql(`SELECT id, body, sig, reason FROM refused WHERE ch = ? ORDER BY rowid`).all(ch) as RefusedRow[];
  }

  // cursors and audit

  cursor(scope: string): number {
    return (this.sql(`SELECT dnum FROM cursors WHERE scope = ?`).get(scope) as { dnum: number } | undefined)?.dnum ?? 0;
  }

  setCursor(scope: string, dnum: number): void {
    this.sql(
      `INSERT INTO cursors (scope, dnum) VALUES (?, ?) ON CONFLICT (scope) DO UPDATE SET dnum = MAX(dnum, ` +
        `excluded.dnum)`,
    ).run(scope, dnum);
  }

  audit(entry: AuditRow): void {
    this.sql(`INSERT INTO audit (at, tool, channel, outcome) VALUES (@at, @tool, @channel, @outcome)`).run(entry);
  }

  auditLog(limit = 1000): AuditRow[] {
    return (
      this.sql(`SELECT at, tool, channel, outcome FROM audit ORDER BY row DESC LIMIT ?`).all(limit) as AuditRow[]
    ).reverse();
  }
}

function toChannel(r: Record<string, unknown>): ChannelRow {
  return {
    ch: r.ch as string,
    name: r.name as string,
    slot: r.slot as string,
    owner: r.owner as string,
    relays: JSON.parse(r.relays as string) as string[],
    epoch: r.epoch as number,
    closed: r.closed === 1,
    expires_at: (r.expires_at as number | null) ?? null,
    created_at: r.created_at as number,
    status: r.status as ChannelRow['status'],
  };
}
