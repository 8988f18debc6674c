/**
 * The relay as a real process, driven by stock y-websocket clients and raw sockets: sync and awareness, every
 * refusal (with the relay still serving others afterwards), durability across kill -9, chunked initial sync.
 * Everything runs against both stores: SQLite, and PostgreSQL in a cluster this file starts.
 */
import { until } from '../helpers/until.js';
import { captureUpdate } from '../helpers/doc.js';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import { spawnRelay, type SpawnedRelay } from '../helpers/relay.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { fetchRoom } from '../helpers/doc.js';
import { randomEntry, stockProvider } from '../helpers/room-client.js';
import { ready } from '../../protocol/sodium.js';
import { newEpochKey, relayAuthParams } from '../../protocol/keys.js';

const cleanup: (() => unknown)[] = [];
let pg: TestPostgres;
beforeAll(async () => {
  await ready();
  pg = await startPostgres({ fsync: false });
}, 60_000);
afterAll(() => pg?.stop());
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

/** The store of the describe block running now. */
let kind: 'sqlite' | 'postgres' = 'sqlite';

/** A relay on the current kind of store: a fresh one, or the same data as an earlier relay (`again`). */
async function relay(opts: { again?: SpawnedRelay; port?: number } = {}): Promise<SpawnedRelay> {
  const store = kind === 'postgres' ? (opts.again?.store ?? (await pg.createDatabase())) : undefined;
  const r = await spawnRelay({ dataDir: opts.again?.dataDir, port: opts.port, store });
  cleanup.push(() => r.stop());
  return r;
}

const entry = randomEntry;
const provider = (url: string, key: Uint8Array, doc?: Y.Doc) => stockProvider(url, key, cleanup, doc);

/** A raw authed socket; `closed` resolves with the close code and reason. */
function raw(url: string, path: string) {
  const ws = new WebSocket(`${url}${path}`);
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const opened = new Promise<void>((resolve) => ws.on('open', () => resolve()));
  ws.on('error', () => undefined);
  return { ws, closed, opened };
}

function authedPath(key: Uint8Array, now?: number): string {
  const { room, ts, sig } = relayAuthParams(key, now);
  return `/${room}?ts=${ts}&sig=${sig}`;
}

function updateMessage(update: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 0);
  syncProtocol.writeUpdate(e, update);
  return encoding.toUint8Array(e);
}

async function metrics(r: SpawnedRelay): Promise<string> {
  return (await fetch(r.url.replace('ws://', 'http://') + '/metrics')).text();
}

describe.each(['sqlite', 'postgres'] as const)('%s store', (store) => {
  beforeAll(() => {
    kind = store;
  });

  describe('relay with stock y-websocket clients', () => {
    it('syncs sealed-sized entries and awareness between two providers', async () => {
      const r = await relay();
      const key = newEpochKey();
      const a = provider(r.url, key);
      const b = provider(r.url, key);
      await until(() => a.p.synced && b.p.synced);
      const entries = Array.from({ length: 50 }, () => entry());
      a.doc.transact(() => {
        for (const [k, v] of entries.slice(0, 25)) a.log.set(k, v);
      });
      for (const [k, v] of entries.slice(25)) b.log.set(k, v);
      await until(() => a.log.size === 50 && b.log.size === 50);
      for (const [k, v] of entries) expect(Buffer.from(b.log.get(k)!).equals(Buffer.from(v))).toBe(true);

      a.p.awareness.setLocalState({ p: 'sealed-presence-a' });
      await until(() => [...b.p.awareness.getStates().values()].some((s) => s.p === 'sealed-presence-a'));
      expect(await metrics(r)).toMatch(/parley_relay_updates_accepted_total [1-9]/);
    });

    it('serves a big room in bounded chunks and the client ends up complete and synced', async () => {
      const r = await relay();
      const key = newEpochKey();
      const writer = provider(r.url, key);
      await until(() => writer.p.synced);
      const N = 5000;
      for (let i = 0; i < N; i += 500)
        writer.doc.transact(() => {
          for (let j = 0; j < 500; j++) writer.log.set(...entry());
        });
      await until(
        () => fetchRoom(r.url, key),
        (m) => m.size === N,
        { what: `${N} stored entries` },
      );
      const messages: number[] = [];
      const { room, ts, sig } = relayAuthParams(key);
      const ws = new WebSocket(`${r.url}/${room}?ts=${ts}&sig=${sig}`);
      cleanup.push(() => ws.terminate());
      ws.on('message', (d: Buffer) => messages.push(d.length));
      await new Promise((res) => ws.on('open', res));
      const e = encoding.createEncoder();
      encoding.writeVarUint(e, 0);
      syncProtocol.writeSyncStep1(e, new Y.Doc());
      ws.send(encoding.toUint8Array(e));
      await until(() => messages.reduce((a, b) => a + b, 0) > N * 300);
      expect(messages.length).toBeGreaterThan(2);
      expect(Math.max(...messages)).toBeLessThan(1024 * 1024);
    });
  });

  describe('refusals leave the relay serving others', () => {
    const cases: [
      string,
      (url: string, key: Uint8Array, honest: Y.Doc) => Promise<{ code: number; reason: string }>,
    ][] = [
      ['no auth', async (url, key) => raw(url, `/${relayAuthParams(key).room}`).closed],
      [
        'wrong signature',
        async (url, key) => {
          const { room, ts } = relayAuthParams(key);
          return raw(url, `/${room}?ts=${ts}&sig=${relayAuthParams(newEpochKey()).sig}`).closed;
        },
      ],
      ['stale timestamp', async (url, key) => raw(url, authedPath(key, Date.now() - 60 * 60_000)).closed],
      [
        'update with a delete set',
        async (url, key, honest) => {
          const c = raw(url, authedPath(key));
          await c.opened;
          const doc = new Y.Doc();
          Y.applyUpdate(doc, Y.encodeStateAsUpdate(honest));
          const [k] = [...honest.getMap('log').keys()];
          c.ws.send(updateMessage(captureUpdate(doc, () => doc.getMap('log').delete(k))));
          return c.closed;
        },
      ],
      [
        'overwrite of an existing key',
        async (url, key, honest) => {
          const c = raw(url, authedPath(key));
          await c.opened;
          const [k, v] = [...honest.getMap<Uint8Array>('log').entries()][0];
          const doc = new Y.Doc();
          c.ws.send(updateMessage(captureUpdate(doc, () => doc.getMap('log').set(k, v))));
          return c.closed;
        },
      ],
      [
        'key different from the hash of the value',
        async (url, key) => {
          const c = raw(url, authedPath(key));
          await c.opened;
          const doc = new Y.Doc();
          c.ws.send(updateMessage(captureUpdate(doc, () => doc.getMap('log').set(entry()[0], entry()[1]))));
          return c.closed;
        },
      ],
      [
        'oversize value',
        async (url, key) => {
          const c = raw(url, authedPath(key));
          await c.opened;
          const doc = new Y.Doc();
          const [k, v] = entry(70_000);
          c.ws.send(updateMessage(captureUpdate(doc, () => doc.getMap('log').set(k, v))));
          return c.closed;
        },
      ],
      [
        '1,000 random garbage frames',
        async (url, key) => {
          let last = { code: 0, reason: '' };
          for (let sent = 0; sent < 1000; ) {
            const c = raw(url, authedPath(key));
            await c.opened;
            while (sent < 1000 && c.ws.readyState === WebSocket.OPEN) {
              c.ws.send(randomBytes(1 + (sent % 200)));
              sent++;
              if (sent % 25 === 0) break;
            }
            c.ws.close();
            last = await c.closed;
          }
          return last;
        },
      ],
    ];

    it.each(cases)('%s', async (name, attack) => {
      const r = await relay();
      const key = newEpochKey();
      const honest = provider(r.url, key);
      await until(() => honest.p.synced);
      const [k, v] = entry();
      honest.log.set(k, v);
      await until(() => honest.p.synced);
      const before = (
        await until(
          () => fetchRoom(r.url, key),
          (m) => m.size > 0,
          { what: 'the honest entry stored' },
        )
      ).size;
      expect(before).toBe(1);

      const outcome = await attack(r.url, key, honest.doc);
      if (name.startsWith('1,000')) expect(outcome.code).toBeGreaterThan(0);
      else expect(outcome.code).toBeGreaterThanOrEqual(4400);

      const [k2, v2] = entry();
      honest.log.set(k2, v2);
      const late = provider(r.url, key);
      await until(() => late.log.size === 2);
      const served = await fetchRoom(r.url, key);
      expect([...served.keys()].sort()).toEqual([k, k2].sort());
      expect(await metrics(r)).toMatch(/parley_relay_updates_refused_total\{reason="[^"]+"\} [1-9]/);
    });
  });

  describe('durability', () => {
    it('kill -9 after N entries synced; a restart on the same data serves all N to a fresh client', async () => {
      const r = await relay();
      const key = newEpochKey();
      const a = provider(r.url, key);
      await until(() => a.p.synced);
      const N = 500;
      const entries = Array.from({ length: N }, () => entry());
      for (const [k, v] of entries) a.log.set(k, v);
      const b = provider(r.url, key);
      await until(() => b.log.size === N, 20_000);
      a.p.destroy();
      b.p.destroy();
      await r.kill('SIGKILL');
      const again = await relay({ again: r, port: r.port });
      const served = await fetchRoom(again.url, key);
      expect(served.size).toBe(N);
      for (const [k] of entries) expect(served.has(k)).toBe(true);
    });

    it('answers /healthz and shuts down cleanly on SIGTERM', async () => {
      const r = await relay();
      expect((await fetch(r.url.replace('ws://', 'http://') + '/healthz')).status).toBe(200);
      const exit = new Promise<number | null>((res) => r.process.once('exit', (code) => res(code)));
      r.process.kill('SIGTERM');
      expect(await exit).toBe(0);
    });
  });
});
