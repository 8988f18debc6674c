/**
 * Relay backpressure, quotas and store failures, with a real relay process: a client that never reads cannot make
 * the relay queue a big room thousands of times, oversized awareness is refused, quotas refuse with their reasons,
 * and a store that cannot write refuses writers while readers stay connected, until writes succeed again.
 *
 * Over 400 lines: every limit is tested against a real relay process with the setup helpers of this file.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import { until } from '../helpers/until.js';
import { spawnRelay, type SpawnedRelay } from '../helpers/relay.js';
import { smallFilesystem } from '../helpers/small-fs.js';
import { captureUpdate, fetchRoom } from '../helpers/doc.js';
import { randomEntry, stockProvider } from '../helpers/room-client.js';
import { CLI } from '../helpers/mcp.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { ready } from '../../protocol/sodium.js';
import { contentId } from '../../protocol/hash.js';
import { newEpochKey, relayAuthParams } from '../../protocol/keys.js';
import { SqliteStore } from '../../relay/store-sqlite.js';
import type { RelayStore } from '../../relay/store.js';
import type { LogEntry } from '../../protocol/log-update.js';

const cleanup: (() => unknown)[] = [];
beforeAll(() => ready());
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const MiB = 1024 * 1024;

const entry = randomEntry;
const provider = (url: string, key: Uint8Array, doc?: Y.Doc) => stockProvider(url, key, cleanup, doc);

function authedUrl(url: string, key: Uint8Array): string {
  const { room, ts, sig } = relayAuthParams(key);
  return `${url}/${room}?ts=${ts}&sig=${sig}`;
}

/** A raw authed socket; `closed` resolves with the close code and reason. */
function raw(url: string, key: Uint8Array) {
  const ws = new WebSocket(authedUrl(url, key));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const opened = new Promise<void>((resolve) => ws.on('open', () => resolve()));
  ws.on('error', () => undefined);
  cleanup.push(() => ws.terminate());
  return { ws, closed, opened };
}

function step1Message(): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 0);
  syncProtocol.writeSyncStep1(e, new Y.Doc());
  return encoding.toUint8Array(e);
}

function updateMessage(update: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 0);
  syncProtocol.writeUpdate(e, update);
  return encoding.toUint8Array(e);
}

function awarenessMessage(client: number, clock: number, state: string): Uint8Array {
  const inner = encoding.createEncoder();
  encoding.writeVarUint(inner, 1);
  encoding.writeVarUint(inner, client);
  encoding.writeVarUint(inner, clock);
  encoding.writeVarString(inner, state);
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 1);
  encoding.writeVarUint8Array(e, encoding.toUint8Array(inner));
  return encoding.toUint8Array(e);
}

async function metrics(r: SpawnedRelay): Promise<string> {
  return (await fetch(r.url.replace('ws://', 'http://') + '/metrics')).text();
}

const refusedCount = (text: string, reason: string): number =>
  Number(new RegExp(`parley_relay_updates_refused_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);

/** Resident set size of a process, in bytes (Linux). */
function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** Writes `bytes` of valid entries (one Yjs client, consecutive clocks) into a room of a SQLite relay directory. */
async function bigRoom(dataDir: string, room: string, bytes: number): Promise<number> {
  // As the relay holds it: through the storage interface (SQLite ignores `now`).
  const store: RelayStore = new SqliteStore(dataDir);
  const size = 60 * 1024;
  const entries: LogEntry[] = [];
  for (let clock = 0; clock * size < bytes; clock++) {
    const [key, value] = entry(size);
    entries.push({ key, client: 1, clock, value });
  }
  for (let i = 0; i < entries.length; i += 100) await store.append(room, entries.slice(i, i + 100), 0, Date.now());
  await store.close();
  return entries.length;
}

/**
 * Spawns a relay on a 52 MB room and has an honest reader load it; returns the relay, the room key and its RSS then.
 */
async function relayWithBigRoom() {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-relay-big-'));
  const key = newEpochKey();
  const count = await bigRoom(dataDir, relayAuthParams(key).room, 52 * 1000 * 1000);
  const r = await spawnRelay({ dataDir });
  cleanup.push(() => r.stop());
  const reader = provider(r.url, key);
  await until(() => reader.p.synced && reader.log.size === count, 60_000);
  return { r, key, pid: r.process.pid! };
}

/** Samples the RSS of `pid` until stopped; `peak` is the highest seen. */
function sampleRss(pid: number) {
  const s = { before: rss(pid), peak: 0 };
  s.peak = s.before;
  const timer = setInterval(() => (s.peak = Math.max(s.peak, rss(pid))), 25);
  cleanup.push(() => clearInterval(timer));
  return { s, stop: () => clearInterval(timer) };
}

/** Another room is served: a client joins and writes, and a second client syncs what was written. */
async function otherRoomServed(url: string): Promise<void> {
  const other = newEpochKey();
  const a = provider(url, other);
  await until(() => a.p.synced, 30_000);
  const [k, v] = entry();
  a.log.set(k, v);
  const b = provider(url, other);
  await until(() => b.p.synced && b.log.has(k), 30_000);
}

describe('relay backpressure', () => {
  it('2,000 sync step 1 requests from one client that never reads, on a 52 MB room: RSS growth < 64 MiB, ' +
    'other rooms served', async () => {
    const { r, key, pid } = await relayWithBigRoom();
    const counter = (m: string, name: string) => Number(new RegExp(`parley_relay_${name}_total (\\d+)`).exec(m)![1]);
    const start = await metrics(r);
    const { s, stop } = sampleRss(pid);
    const attacker = raw(r.url, key);
    await attacker.opened;
    // Never read: the socket stops pulling bytes from the kernel, so the relay's send buffer can only grow.
    attacker.ws.pause();
    const step1 = step1Message();
    for (let i = 0; i < 2000; i++) attacker.ws.send(step1);
    await otherRoomServed(r.url);
    // Every request reached the relay; it answers the first one part at a time and the rest are covered by it.
    const end = await until(
      () => metrics(r),
      (m) => counter(m, 'bytes_in') - counter(start, 'bytes_in') >= 2000 * step1.length,
    );
    await otherRoomServed(r.url);
    stop();
    const growth = s.peak - s.before;
    const sent = counter(end, 'bytes_out') - counter(start, 'bytes_out');
    console.log(
      `one client: relay RSS before ${(s.before / MiB).toFixed(0)} MiB, peak ${(s.peak / MiB).toFixed(0)} MiB, ` +
        `growth ${(growth / MiB).toFixed(0)} MiB; ${(sent / MiB).toFixed(1)} MiB handed to its socket`,
    );
    expect(growth).toBeLessThan(64 * MiB);
    expect(sent).toBeLessThan(52 * 1000 * 1000);
  }, 180_000);

  it('a node asking again on every update during a big initial sync (as on clock gaps) is not refused', async () => {
    const { r, key } = await relayWithBigRoom();
    const writer = provider(r.url, key);
    await until(() => writer.p.synced, 60_000);
    const c = raw(r.url, key);
    await c.opened;
    const step1 = step1Message();
    let synced = false;
    let asked = 0;
    c.ws.on('message', (d: Buffer) => {
      if (d[0] !== 0 || synced) return;
      if (d[1] === 1) synced = true;
      else if (d[1] === 2) {
        asked++;
        c.ws.send(step1);
      }
    });
    c.ws.send(step1);
    for (let i = 0; i < 20 && !synced; i++) {
      const before = asked;
      writer.log.set(...entry());
      // The client got another update and asked again (or the sync finished) before the next write.
      await until(() => asked > before || synced, { what: 'the client to ask again' });
    }
    await until(() => synced, 60_000);
    expect(asked).toBeGreaterThan(20);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect(refusedCount(await metrics(r), 'sync-rate-limit')).toBe(0);
  }, 120_000);

  it('sync step 1 requests over the per-connection rate are refused with 4408 sync-rate-limit', async () => {
    const r = await spawnRelay();
    cleanup.push(() => r.stop());
    const c = raw(r.url, newEpochKey());
    await c.opened;
    const step1 = step1Message();
    for (let i = 0; i < 100 && c.ws.readyState === WebSocket.OPEN; i++) c.ws.send(step1);
    expect(await c.closed).toEqual({ code: 4408, reason: 'sync-rate-limit' });
    expect(refusedCount(await metrics(r), 'sync-rate-limit')).toBe(1);
  });

  it('2,000 sync step 1 requests from 200 connections that never read (10 each): RSS growth < 256 MiB, ' +
    'other rooms served', async () => {
    const { r, key, pid } = await relayWithBigRoom();
    const { s, stop } = sampleRss(pid);
    const step1 = step1Message();
    const attackers = Array.from({ length: 200 }, () => raw(r.url, key));
    for (const a of attackers) {
      await a.opened;
      a.ws.pause();
      for (let i = 0; i < 10; i++) a.ws.send(step1);
    }
    await otherRoomServed(r.url);
    // Each connection's answer streams one part at a time: the relay holds at most a part per connection.
    await until(
      () => metrics(r),
      (m) => Number(/parley_relay_bytes_out_total (\d+)/.exec(m)![1]) > 200 * 256 * 1024,
    );
    await otherRoomServed(r.url);
    stop();
    expect(refusedCount(await metrics(r), 'sync-rate-limit')).toBe(0);
    const growth = s.peak - s.before;
    console.log(
      `200 connections: relay RSS before ${(s.before / MiB).toFixed(0)} MiB, peak ${(s.peak / MiB).toFixed(0)} MiB, ` +
        `growth ${(growth / MiB).toFixed(0)} MiB`,
    );
    expect(growth).toBeLessThan(256 * MiB);
  }, 180_000);
});

describe('a reader that does not read', () => {
  it('is no longer fed once its send buffer passes the bound, and is closed with 4509; the ' +
    'others get everything', async () => {
    const r = await spawnRelay();
    cleanup.push(() => r.stop());
    const key = newEpochKey();
    const writer = provider(r.url, key);
    const reader = provider(r.url, key);
    await until(() => writer.p.synced && reader.p.synced);
    const stuck = raw(r.url, key);
    await stuck.opened;
    stuck.ws.pause();

    // 24 MB of updates: more than the kernel's socket buffers and the relay's 4 MiB bound together.
    const N = 400;
    for (let i = 0; i < N; i += 10)
      writer.doc.transact(() => {
        for (let i = 0; i < 10; i++) writer.log.set(...entry(60 * 1024));
      });
    await until(() => reader.log.size === N, 60_000);
    // (A reader in this busy test process may itself fall 4 MiB behind for a moment: it is closed too, reconnects
    // and resyncs, which is why it still ends up with every entry.)
    await until(
      () => metrics(r),
      (m) => refusedCount(m, 'backpressure') >= 1,
    );
    // The stuck socket was closed: reading again, it finds the end of the connection.
    stuck.ws.resume();
    await stuck.closed;
    const [k, v] = entry();
    writer.log.set(k, v);
    await until(() => reader.log.has(k));
  }, 120_000);
});

describe('awareness limits', () => {
  it('an oversized awareness update is refused with 4413 awareness-oversize; others keep their presence', async () => {
    const r = await spawnRelay();
    cleanup.push(() => r.stop());
    const key = newEpochKey();
    const a = provider(r.url, key);
    const b = provider(r.url, key);
    await until(() => a.p.synced && b.p.synced);

    const big = raw(r.url, key);
    await big.opened;
    big.ws.send(awarenessMessage(4242, 1, JSON.stringify({ p: 'x'.repeat(70_000) })));
    expect(await big.closed).toEqual({ code: 4413, reason: 'awareness-oversize' });
    expect(refusedCount(await metrics(r), 'awareness-oversize')).toBe(1);
    expect(b.p.awareness.getStates().has(4242)).toBe(false);

    a.p.awareness.setLocalState({ p: 'sealed-presence-a' });
    await until(() => [...b.p.awareness.getStates().values()].some((s) => s.p === 'sealed-presence-a'));
  });

  it('awareness updates over the per-connection rate are dropped and counted, the connection stays open', async () => {
    const r = await spawnRelay();
    cleanup.push(() => r.stop());
    const key = newEpochKey();
    const c = raw(r.url, key);
    await c.opened;
    for (let clock = 1; clock <= 500; clock++)
      c.ws.send(awarenessMessage(777, clock, JSON.stringify({ p: `s${clock}` })));
    await until(
      () => metrics(r),
      (m) => refusedCount(m, 'awareness-rate-limit') > 0,
    );
    // Still served: a sync step 1 is answered on the same connection.
    const answered = new Promise<void>((resolve) =>
      c.ws.on('message', (d: Buffer) => d[0] === 0 && d[1] === 1 && resolve()),
    );
    c.ws.send(step1Message());
    await answered;
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });
});

const probe = smallFilesystem('1m');
probe?.unmount();

describe('store write failures', () => {
  it.skipIf(probe === null)(
    'disk full on a real 3 MiB filesystem: writers refused, readers stay, writes resume once it grows (root only)',
    async () => {
      const fs = smallFilesystem('3m')!;
      cleanup.push(() => fs.unmount());
      const dataDir = join(fs.dir, 'relay');
      mkdirSync(dataDir);
      const r = await spawnRelay({ dataDir });
      cleanup.push(() => r.stop());
      const key = newEpochKey();
      const writer = provider(r.url, key);
      const reader = provider(r.url, key);
      let readerDrops = 0;
      reader.p.on('connection-close', () => readerDrops++);
      await until(() => writer.p.synced && reader.p.synced);

      let text = '';
      for (let batch = 0; batch < 200 && refusedCount(text, 'disk-full') === 0; batch++) {
        writer.doc.transact(() => {
          for (let i = 0; i < 5; i++) writer.log.set(...entry(60 * 1024));
        });
        await until(() => reader.log.size === writer.log.size || refusedCount(text, 'disk-full') > 0, 5_000).catch(
          () => undefined,
        );
        text = await metrics(r);
      }
      expect(refusedCount(text, 'disk-full')).toBeGreaterThan(0);
      expect(reader.log.size).toBeLessThan(writer.log.size);
      const late = provider(r.url, key);
      await until(() => late.p.synced && late.log.size === reader.log.size);

      fs.resize('64m');
      await until(() => reader.log.size === writer.log.size && late.log.size === writer.log.size, 30_000);
      expect(/parley_relay_store_writes_failing 0/.test(await metrics(r))).toBe(true);
      expect(readerDrops).toBe(0);
      expect(r.process.exitCode).toBe(null);
    },
    90_000,
  );

  it('disk full (injected SQLITE_FULL): writers refused with 4507 disk-full, readers stay connected and ' +
    'served, writes resume', async () => {
    const fault = join(mkdtempSync(join(tmpdir(), 'parley-fault-')), 'disk-full');
    const r = await spawnRelay({ env: { PARLEY_RELAY_FAULT_APPEND: fault } });
    cleanup.push(() => r.stop());
    const key = newEpochKey();
    const writer = provider(r.url, key);
    const reader = provider(r.url, key);
    let readerDrops = 0;
    reader.p.on('connection-close', () => readerDrops++);
    await until(() => writer.p.synced && reader.p.synced);
    const [k1, v1] = entry();
    writer.log.set(k1, v1);
    await until(() => reader.log.has(k1));

    writeFileSync(fault, '');
    const refusal = raw(r.url, key);
    await refusal.opened;
    const doc = new Y.Doc();
    const [k2, v2] = entry();
    refusal.ws.send(updateMessage(captureUpdate(doc, () => doc.getMap('log').set(k2, v2))));
    expect(await refusal.closed).toEqual({ code: 4507, reason: 'disk-full' });
    const [k3, v3] = entry();
    writer.log.set(k3, v3);
    await until(
      () => metrics(r),
      (m) => refusedCount(m, 'disk-full') >= 2 && /parley_relay_store_writes_failing 1/.test(m),
    );
    // A reader joining now (its join cannot record the room's use either) is served what is stored.
    const late = provider(r.url, key);
    await until(() => late.p.synced && late.log.has(k1));
    expect(late.log.has(k3)).toBe(false);

    rmSync(fault);
    // The writer reconnects and resends what the relay lacks; everyone gets it.
    await until(() => reader.log.has(k3) && late.log.has(k3), 30_000);
    expect(/parley_relay_store_writes_failing 0/.test(await metrics(r))).toBe(true);
    expect(readerDrops).toBe(0);
    expect(r.process.exitCode).toBe(null);
    expect(r.stderr()).toMatch(/store write failed \(database or disk is full/);
    expect(r.stderr()).toMatch(/store writes succeed again/);
  }, 60_000);
});

describe.each(['sqlite', 'postgres'] as const)('quotas (%s store)', (kind) => {
  let pg: TestPostgres | undefined;
  beforeAll(async () => {
    if (kind === 'postgres') pg = await startPostgres({ fsync: false });
  }, 60_000);
  afterAll(() => pg?.stop());

  const relay = async (args: string[], again?: SpawnedRelay) => {
    const store = kind === 'postgres' ? (again?.store ?? (await pg!.createDatabase())) : undefined;
    const r = await spawnRelay({ store, dataDir: again?.dataDir, args });
    cleanup.push(() => r.stop());
    return r;
  };

  /** Sends one update per value on a raw socket (consecutive clocks of one Yjs client). */
  async function write(url: string, key: Uint8Array, values: Uint8Array[]) {
    const c = raw(url, key);
    await c.opened;
    const doc = new Y.Doc();
    for (const v of values) c.ws.send(updateMessage(captureUpdate(doc, () => doc.getMap('log').set(contentId(v), v))));
    return c;
  }
  const values = (n: number) => Array.from({ length: n }, () => entry(60_000)[1]);
  const stored = async (url: string, key: Uint8Array, n: number) => {
    await until(
      () => fetchRoom(url, key),
      (m) => m.size === n,
    );
  };

  it(
    '--room-quota: an update that would pass it is refused with 4520 room-quota; other rooms ' + 'still take writes',
    async () => {
      const r = await relay(['--room-quota', '200KiB']);
      const key = newEpochKey();
      const c = await write(r.url, key, values(4));
      expect(await c.closed).toEqual({ code: 4520, reason: 'room-quota' });
      await stored(r.url, key, 3);
      expect(refusedCount(await metrics(r), 'room-quota')).toBe(1);
      const other = newEpochKey();
      await write(r.url, other, values(3));
      await stored(r.url, other, 3);
    },
  );

  it('--disk-quota: counts every room and what was stored before a restart; refused with 4521 disk-quota', async () => {
    const r = await relay(['--disk-quota', '300KiB']);
    const a = newEpochKey();
    await write(r.url, a, values(3));
    await stored(r.url, a, 3);
    const b = newEpochKey();
    const c = await write(r.url, b, values(3));
    expect(await c.closed).toEqual({ code: 4521, reason: 'disk-quota' });
    await stored(r.url, b, 2);
    expect(refusedCount(await metrics(r), 'disk-quota')).toBe(1);
    expect(await metrics(r)).toMatch(/parley_relay_stored_bytes 300000\n/);

    await r.stop();
    const again = await relay(['--disk-quota', '300KiB'], r);
    const d = await write(again.url, newEpochKey(), values(1));
    expect(await d.closed).toEqual({ code: 4521, reason: 'disk-quota' });
    await stored(again.url, a, 3);
  });
});

describe('quota options', () => {
  it('a bad quota is one line and exit 2', () => {
    const run = spawnSync(process.execPath, [CLI, 'relay', '--port', '0', '--room-quota', '10GB'], {
      encoding: 'utf8',
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      'parley relay: --room-quota must be a number of bytes (e.g. 1073741824 or 1GiB), got "10GB"\n',
    );
  });
});
