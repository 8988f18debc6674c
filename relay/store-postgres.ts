/**
 * Durable relay storage on PostgreSQL, shared by any number of relay processes (`parley relay --store postgres://…`).
 *
 *   parley_relay_rooms   (room, last_seq, last_seen)             one row per room: its cursor and the disk TTL
 *   parley_relay_entries (room, seq, key, client, clock, value)  unique per (room, seq), (room, key),
 *                                                                (room, client, clock)
 *
 * An append is one round trip: the function `parley_relay_append` locks the room's row, numbers the new entries
 * after the room's last seq, skips those another process already stored (ON CONFLICT DO NOTHING), and NOTIFYs
 * `parley_relay` with "seq sent-at-ms room". The row lock is held until commit, so within a room seq order is commit
 * order: whoever has read up to seq n has seen everything committed before it, and reading by cursor never skips.
 * NOTIFY is only a doorbell (delivered at commit, lost while the listener is disconnected); the relay reads the rows
 * back with `since`, and polls `heads` as a fallback, so a lost notification only delays.
 */
import pg from 'pg';
import {
  StoreUnavailableError,
  type AppendResult,
  type RelayStore,
  type StoreEvents,
  type StoredRows,
} from './store.js';
import type { LogEntry } from '../protocol/log-update.js';

const CHANNEL = 'parley_relay';

const SCHEMA =
  `
CREATE TABLE IF NOT EXISTS parley_relay_rooms (
  room      text   PRIMARY KEY,
  last_seq  bigint NOT NULL DEFAULT 0,
  last_seen bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS parley_relay_entries (
  room   text   NOT NULL,
  seq    bigint NOT NULL,
  key    text   NOT NULL,
  client bigint NOT NULL,
  clock  bigint NOT NULL,
  value  bytea  NOT NULL,
  PRIMARY KEY (room, seq),
  UNIQUE (room, key),
  UNIQUE (room, client, clock)
);
CREATE INDEX IF NOT EXISTS parley_relay_rooms_last_seen ON parley_relay_rooms (last_seen);
CREATE OR REPLACE FUNCTION parley_relay_append(p_room text, p_keys text[], p_clients bigint[], p_clocks bigint[], ` +
  `p_values bytea[], p_now bigint)
RETURNS TABLE (prev bigint, seqs bigint[]) LANGUAGE plpgsql AS $fn$
DECLARE
  v_prev bigint;
  v_seqs bigint[];
BEGIN
  INSERT INTO parley_relay_rooms AS r (room, last_seq, last_seen) VALUES (p_room, 0, p_now)
    ON CONFLICT (room) DO UPDATE SET last_seen = GREATEST(r.last_seen, EXCLUDED.last_seen)
    RETURNING r.last_seq INTO v_prev;
  WITH ins AS (
    INSERT INTO parley_relay_entries (room, seq, key, client, clock, value)
    SELECT p_room, v_prev + t.o, t.k, t.c, t.cl, t.v
      FROM unnest(p_keys, p_clients, p_clocks, p_values) WITH ORDINALITY AS t(k, c, cl, v, o)
    ON CONFLICT DO NOTHING
    RETURNING parley_relay_entries.seq)
  SELECT array_agg(ins.seq ORDER BY ins.seq) INTO v_seqs FROM ins;
  IF v_seqs IS NOT NULL THEN
    UPDATE parley_relay_rooms SET last_seq = v_seqs[cardinality(v_seqs)] WHERE room = p_room;
    PERFORM pg_notify('${CHANNEL}', v_seqs[cardinality(v_seqs)] || ' ' || floor(extract(epoch FROM ` +
  `clock_timestamp()) * 1000)::bigint || ' ' || p_room);
  END IF;
  RETURN QUERY SELECT v_prev, coalesce(v_seqs, '{}'::bigint[]);
END
$fn$;
`;

type Row = { seq: string; key: string; client: string; clock: string; value: Buffer };
const toEntry = (r: Row): LogEntry => ({
  key: r.key,
  client: Number(r.client),
  clock: Number(r.clock),
  value: new Uint8Array(r.value),
});

/** Errors that mean "the database is not reachable right now", as opposed to a bug or a constraint. */
function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (typeof e?.code === 'string') {
    // 08xxx connection exceptions, 57P0x admin/crash shutdown, 53300 too many connections; Node socket errors.
    if (/^(08|57P0|53300)/.test(e.code) || /^E[A-Z]+$/.test(e.code)) return true;
  }
  return /Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(
    e?.message ?? '',
  );
}

const RECONNECT_MS = [100, 250, 500, 1000, 2000];

export class PostgresStore implements RelayStore {
  readonly shared = true;
  appends = 0;
  readonly description: string;
  private events: StoreEvents | null = null;
  private listener: pg.Client | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private attempts = 0;
  private closed = false;
  private up = true;

  private constructor(
    private readonly url: string,
    display: string,
    private readonly pool: pg.Pool,
  ) {
    this.description = `postgres ${display}`;
    // An idle pooled connection that dies emits 'error' on the pool; unhandled, it would end the process.
    pool.on('error', (err) => this.setUp(false, err.message));
  }

  /** Connects, creates the schema if missing (serialised across processes by an advisory lock). */
  static async open(url: string, display: string): Promise<PostgresStore> {
    const pool = new pg.Pool({
      connectionString: url,
      max: 8,
      connectionTimeoutMillis: 5000,
      application_name: 'parley-relay',
    });
    const store = new PostgresStore(url, display, pool);
    try {
      const client = await pool.connect();
      try {
        await client.query("SELECT pg_advisory_lock(hashtext('parley_relay_schema'))");
        try {
          await client.query(SCHEMA);
        } finally {
          await client.query("SELECT pg_advisory_unlock(hashtext('parley_relay_schema'))");
        }
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new Error(`cannot use PostgreSQL at ${display}: ${(err as Error).message}`);
    }
    return store;
  }

  private async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      const result = await this.pool.query<R>(text, values);
      this.setUp(true, 'query succeeded');
      return result;
    } catch (err) {
      if (!isConnectionError(err)) throw err;
      this.setUp(false, (err as Error).message);
      throw new StoreUnavailableError((err as Error).message);
    }
  }

  private setUp(up: boolean, why: string): void {
    if (this.up === up || this.closed) return;
    this.up = up;
    this.events?.status(up, why);
  }

  async load(room: string): Promise<StoredRows> {
    const rows = (
      await this.query<Row>(
        'SELECT seq, key, client, clock, value FROM parley_relay_entries WHERE room = $1 ORDER BY seq',
        [room],
      )
    ).rows;
    return { entries: rows.map(toEntry), cursor: rows.length > 0 ? Number(rows[rows.length - 1].seq) : 0 };
  }

  async since(room: string, cursor: number, limit: number): Promise<StoredRows> {
    const rows = (
      await this.query<Row>(
        'SELECT seq, key, client, clock, value FROM parley_relay_entries WHERE room = $1 AND seq > $2 ORDER ' +
          'BY seq LIMIT $3',
        [room, cursor, limit],
      )
    ).rows;
    return { entries: rows.map(toEntry), cursor: rows.length > 0 ? Number(rows[rows.length - 1].seq) : cursor };
  }

  async append(room: string, entries: readonly LogEntry[], cursor: number, now: number): Promise<AppendResult> {
    if (entries.length === 0) return { stored: [], cursor };
    const { rows } = await this.query<{ prev: string; seqs: string[] }>(
      'SELECT prev, seqs FROM parley_relay_append($1, $2, $3, $4, $5, $6)',
      [
        room,
        entries.map((e) => e.key),
        entries.map((e) => e.client),
        entries.map((e) => e.clock),
        entries.map((e) => e.value),
        now,
      ],
    );
    this.appends++;
    const prev = Number(rows[0].prev);
    const seqs = rows[0].seqs.map(Number);
    const stored = seqs.map((s) => entries[s - prev - 1]);
    const upToDate = prev === cursor;
    return { stored, cursor: upToDate ? (seqs.length > 0 ? seqs[seqs.length - 1] : cursor) : null };
  }

  async touch(rooms: readonly string[], now: number): Promise<void> {
    if (rooms.length === 0) return;
    await this.query(
      `INSERT INTO parley_relay_rooms (room, last_seq, last_seen) SELECT r, 0, $2 FROM unnest($1::text[]) AS r
       ON CONFLICT (room) DO UPDATE SET last_seen = GREATEST(parley_relay_rooms.last_seen, EXCLUDED.last_seen)`,
      [rooms, now],
    );
  }

  async heads(rooms: readonly string[]): Promise<Map<string, number>> {
    const heads = new Map<string, number>();
    if (rooms.length === 0) return heads;
    const { rows } = await this.query<{ room: string; last_seq: string }>(
      'SELECT room, last_seq FROM parley_relay_rooms WHERE room = ANY($1::text[]) AND last_seq > 0',
      [rooms],
    );
    for (const r of rows) heads.set(r.room, Number(r.last_seq));
    return heads;
  }

  async expire(before: number, keep: ReadonlySet<string>): Promise<string[]> {
    const { rows } = await this.query<{ room: string }>(
      `WITH gone AS (
         DELETE FROM parley_relay_rooms WHERE last_seen < $1 AND NOT (room = ANY($2::text[])) RETURNING room
       ), entries AS (
         DELETE FROM parley_relay_entries e USING gone WHERE e.room = gone.room
       )
       SELECT room FROM gone`,
      [before, [...keep]],
    );
    return rows.map((r) => r.room);
  }

  async usage(): Promise<number> {
    const { rows } = await this.query<{ bytes: string }>(
      'SELECT coalesce(sum(octet_length(value)), 0) AS bytes FROM parley_relay_entries',
    );
    return Number(rows[0].bytes);
  }

  /** PostgreSQL's autovacuum does the housekeeping. */
  async maintain(): Promise<void> {}

  async watch(events: StoreEvents): Promise<void> {
    this.events = events;
    await this.listen();
  }

  /** One dedicated connection LISTENs; when it drops, it is re-opened with backoff and the relay polls on `status`. */
  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: 5000,
      application_name: 'parley-relay-listen',
    });
    const lost = (why: string) => {
      if (this.listener !== client) return;
      this.listener = null;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      this.setUp(false, why);
      this.scheduleListen();
    };
    client.on('error', (err) => lost(err.message));
    client.on('end', () => lost('listen connection closed'));
    client.on('notification', (n) => {
      const m = /^(\d+) (\d+) (.+)$/s.exec(n.payload ?? '');
      if (m) this.events?.appended(m[3], Number(m[1]), Number(m[2]));
    });
    this.listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      lost((err as Error).message);
      return;
    }
    this.attempts = 0;
    this.setUp(true, 'listening again');
    // Notifications sent while the listener was away are gone: the relay reads its rooms' heads instead.
    this.events?.missed();
  }

  private scheduleListen(): void {
    if (this.closed || this.reconnectTimer || this.events === null) return;
    const delay = RECONNECT_MS[Math.min(this.attempts++, RECONNECT_MS.length - 1)];
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.listener === null) void this.listen();
    }, delay);
    this.reconnectTimer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}
