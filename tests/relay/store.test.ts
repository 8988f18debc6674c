/**
 * Contract of relay/store.ts, run against both implementations: SQLite in a temp dir and PostgreSQL in a cluster
 * this file starts. Plus what only a shared store does: two processes' stores on one database, doorbells, conflicts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/mcp.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { until } from '../helpers/until.js';
import { openStore, parseStoreSpec, StoreUnavailableError, type RelayStore } from '../../relay/store.js';
import type { LogEntry } from '../../protocol/log-update.js';

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres({ fsync: false });
}, 60_000);
afterAll(() => pg?.stop());

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

type Kind = 'sqlite' | 'postgres';

/** Opens a fresh store; `same` opens a second handle on the store of an earlier call (another relay process). */
async function open(kind: Kind, same?: string): Promise<{ store: RelayStore; where: string }> {
  let where = same;
  if (!where) {
    if (kind === 'sqlite') {
      where = mkdtempSync(join(tmpdir(), 'parley-store-'));
      const dir = where;
      cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    } else where = await pg.createDatabase();
  }
  const store = await openStore(kind === 'sqlite' ? parseStoreSpec('', where) : parseStoreSpec(where, '/nonexistent'));
  cleanup.push(() => store.close());
  return { store, where };
}

const room = () => randomBytes(32).toString('base64url').slice(0, 43);
const entry = (client: number, clock: number): LogEntry => ({
  key: randomBytes(32).toString('base64url').slice(0, 43),
  client,
  clock,
  value: new Uint8Array(randomBytes(300)),
});
const keys = (es: readonly LogEntry[]) => es.map((e) => e.key);

describe.each<Kind>(['sqlite', 'postgres'])('%s store', (kind) => {
  it('appends and loads entries with their Yjs ids and values; clocks stay consecutive per client', async () => {
    const { store } = await open(kind);
    const r = room();
    const first = [entry(7, 0), entry(7, 1), entry(9, 0)];
    const a = await store.append(r, first, 0, Date.now());
    expect(keys(a.stored)).toEqual(keys(first));
    expect(a.cursor).toBeGreaterThan(0);
    const b = await store.append(r, [entry(9, 1), entry(7, 2)], a.cursor!, Date.now());
    expect(b.cursor).toBeGreaterThan(a.cursor!);
    const loaded = await store.load(r);
    expect(loaded.entries).toHaveLength(5);
    expect(loaded.cursor).toBe(b.cursor);
    const clocks = new Map<number, number[]>();
    for (const e of loaded.entries) clocks.set(e.client, [...(clocks.get(e.client) ?? []), e.clock]);
    expect(clocks.get(7)).toEqual([0, 1, 2]);
    expect(clocks.get(9)).toEqual([0, 1]);
    expect(
      Buffer.from(loaded.entries.find((e) => e.key === first[0].key)!.value).equals(Buffer.from(first[0].value)),
    ).toBe(true);
    expect((await store.load(room())).entries).toEqual([]);
  });

  it('reads by cursor: since() returns what came after, in order, limited', async () => {
    const { store } = await open(kind);
    const r = room();
    const es = Array.from({ length: 10 }, (_, i) => entry(1, i));
    let cursor = 0;
    for (const e of es) cursor = (await store.append(r, [e], cursor, Date.now())).cursor!;
    const head = (await store.heads([r, room()])).get(r);
    expect(head).toBe(cursor);
    const part = await store.since(r, 0, 4);
    expect(keys(part.entries)).toEqual(keys(es.slice(0, 4)));
    const rest = await store.since(r, part.cursor, 100);
    expect(keys(rest.entries)).toEqual(keys(es.slice(4)));
    expect(rest.cursor).toBe(cursor);
    expect((await store.since(r, cursor, 100)).entries).toEqual([]);
  });

  it('rooms are separate, and expire() deletes only rooms last used before the cutoff and not kept', async () => {
    const { store } = await open(kind);
    const [old, kept, fresh] = [room(), room(), room()];
    for (const r of [old, kept, fresh]) await store.append(r, [entry(1, 0)], 0, 1000);
    await store.touch([old, kept], 1000);
    await store.touch([fresh], 5000);
    expect((await store.expire(2000, new Set([kept]))).sort()).toEqual([old]);
    expect((await store.load(old)).entries).toEqual([]);
    expect((await store.load(kept)).entries).toHaveLength(1);
    expect((await store.load(fresh)).entries).toHaveLength(1);
    await store.maintain();
  });

  it('usage() is the bytes of entry values over all rooms (the disk quota), less what expired', async () => {
    const { store } = await open(kind);
    expect(await store.usage()).toBe(0);
    const [a, b] = [room(), room()];
    await store.append(a, [entry(1, 0), entry(1, 1)], 0, 1000);
    await store.append(b, [entry(2, 0)], 0, 1000);
    await store.touch([a], 1000);
    await store.touch([b], 5000);
    expect(await store.usage()).toBe(900);
    await store.expire(2000, new Set());
    expect(await store.usage()).toBe(300);
  });

  it('keeps its entries across close and reopen', async () => {
    const { store, where } = await open(kind);
    const r = room();
    await store.append(r, [entry(3, 0), entry(3, 1)], 0, Date.now());
    await store.close();
    const again = await open(kind, where);
    expect((await again.store.load(r)).entries.map((e) => e.clock)).toEqual([0, 1]);
  });
});

describe('postgres store shared by two relay processes', () => {
  it('a duplicate key or Yjs id never reaches the table; the late writer is told to read back', async () => {
    const { store: a, where } = await open('postgres');
    const { store: b } = await open('postgres', where);
    const r = room();
    const e0 = entry(5, 0);
    const ra = await a.append(r, [e0], 0, Date.now());
    expect(ra.cursor).toBe(1);
    // B has not seen e0 (its cursor is 0): it stores only the new entry and must catch up.
    const e1 = entry(5, 1);
    const rb = await b.append(r, [e0, e1], 0, Date.now());
    expect(keys(rb.stored)).toEqual([e1.key]);
    expect(rb.cursor).toBeNull();
    const back = await b.since(r, 0, 100);
    expect(keys(back.entries)).toEqual([e0.key, e1.key]);
    // Another item at a taken Yjs id (5, 1) is skipped too.
    const clash = { ...entry(5, 1) };
    expect((await a.append(r, [clash], ra.cursor!, Date.now())).stored).toEqual([]);
    expect((await a.load(r)).entries).toHaveLength(2);
  });

  it('rings the other process after commit, with the cursor to read up to', async () => {
    const { store: a, where } = await open('postgres');
    const { store: b } = await open('postgres', where);
    const rings: [string, number][] = [];
    await b.watch({ appended: (r, c) => rings.push([r, c]), status: () => undefined, missed: () => undefined });
    const r = room();
    const res = await a.append(r, [entry(1, 0), entry(1, 1)], 0, Date.now());
    await until(() => rings.some(([x]) => x === r), { what: 'the other store to ring' });
    expect(rings).toContainEqual([r, res.cursor]);
    const back = await b.since(r, 0, 100);
    expect(back.entries).toHaveLength(2);
  });

  it('concurrent appends to one room from two processes: cursor order is commit order, nothing skipped', async () => {
    const { store: a, where } = await open('postgres');
    const { store: b } = await open('postgres', where);
    const r = room();
    // Two writers, each its own Yjs client, 50 appends each, interleaved as they race.
    const write = async (s: RelayStore, client: number) => {
      for (let clock = 0; clock < 50; clock++) await s.append(r, [entry(client, clock)], 0, Date.now());
    };
    // A reader following by cursor while they write must end with all 100, each client's clocks in order.
    const seen: LogEntry[] = [];
    let cursor = 0;
    let done = false;
    const reader = (async () => {
      while (!done || seen.length < 100) {
        const next = await b.since(r, cursor, 7);
        seen.push(...next.entries);
        cursor = next.cursor;
        if (next.entries.length === 0) await new Promise((s) => setTimeout(s, 5));
      }
    })();
    await Promise.all([write(a, 1), write(b, 2)]);
    done = true;
    await reader;
    expect(seen).toHaveLength(100);
    for (const client of [1, 2])
      expect(seen.filter((e) => e.client === client).map((e) => e.clock)).toEqual([...Array(50).keys()]);
  });

  it('a stopped server makes operations fail with StoreUnavailableError, and the store works again after', async () => {
    const own = await startPostgres({ fsync: false });
    cleanup.push(() => own.stop());
    const url = await own.createDatabase();
    const store = await openStore(parseStoreSpec(url, '/nonexistent'));
    cleanup.push(() => store.close());
    const status: boolean[] = [];
    await store.watch({ appended: () => undefined, status: (up) => status.push(up), missed: () => undefined });
    const r = room();
    await store.append(r, [entry(1, 0)], 0, Date.now());
    await own.stopServer();
    await expect(store.append(r, [entry(1, 1)], 1, Date.now())).rejects.toBeInstanceOf(StoreUnavailableError);
    await own.startServer();
    const appended = () =>
      store.append(r, [entry(1, 1)], 1, Date.now()).then(
        () => true,
        (err: unknown) => {
          if (!(err instanceof StoreUnavailableError)) throw err;
          return false;
        },
      );
    await until(appended, { what: 'an append once the server is back' });
    expect((await store.load(r)).entries).toHaveLength(2);
    expect(status).toContain(false);
    expect(status.at(-1)).toBe(true);
  }, 60_000);
});

describe('--store URLs', () => {
  it('parses postgres URLs and refuses others with one line that never shows the password', () => {
    expect(parseStoreSpec(undefined, '/d')).toEqual({ kind: 'sqlite', dataDir: '/d' });
    expect(parseStoreSpec('postgres://u:secret@db.example:5433/parley', '/d')).toMatchObject({
      kind: 'postgres',
      display: 'db.example:5433/parley',
    });
    expect(parseStoreSpec('postgresql://u@h/db', '/d')).toMatchObject({ kind: 'postgres', display: 'h/db' });
    for (const bad of [
      'mysql://u:secret@h/db',
      'postgres://u:secret@h',
      'postgres://u:secret@h:99999/db',
      'not a url',
      'postgres:///db',
    ]) {
      let message = '';
      try {
        parseStoreSpec(bad, '/d');
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, bad).toMatch(/^--store /);
      expect(message).not.toContain('secret');
      expect(message).not.toContain('\n');
    }
  });
});

describe('parley relay --store', () => {
  const relay = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [CLI, 'relay', '--port', '0', ...args], {
      encoding: 'utf8',
      env: { ...process.env, PARLEY_HOME: mkdtempSync(join(tmpdir(), 'parley-home-')), ...env },
      timeout: 30_000,
    });

  it('a bad URL is one line and exit 2, from the flag or the environment', () => {
    for (const r of [
      relay(['--store', 'mysql://u:secret@h/db']),
      relay([], { PARLEY_RELAY_STORE: 'postgres://u:secret@h' }),
    ]) {
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^parley relay: --store /);
      expect(r.stderr).not.toContain('secret');
    }
  });

  it('an unreachable database is one line and exit 1', () => {
    // Port 1: privileged, so no test server of ours listens there.
    const url = 'postgres://parley:secret@127.0.0.1:1/parley_test_none';
    const r = relay(['--store', url]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^parley relay: cannot use PostgreSQL at 127\.0\.0\.1:1\/parley_test_none: /);
    expect(r.stderr).not.toContain('secret');
  });
});
