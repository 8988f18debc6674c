/**
 * Several `parley relay` processes on one PostgreSQL database are one relay service: real `parley mcp` nodes reach
 * them through a round-robin TCP proxy (tests/helpers/tcp-proxy.ts), one node on each instance, and exchange messages
 * both ways; an instance killed with -9 mid-stream loses nothing and duplicates nothing; PostgreSQL restarted under
 * running relays makes them refuse writes (metric, log line) and resume by themselves.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/until.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { spawnRelay, type SpawnedRelay } from '../helpers/relay.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { collectUntil, startNode, type ReadMessage, type TestNode } from '../helpers/mcp.js';

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(() => pg?.stop());

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function relay(store: string, port?: number): Promise<SpawnedRelay> {
  const r = await spawnRelay({ store, port });
  cleanup.push(() => r.stop());
  return r;
}

async function proxy(targets: SpawnedRelay[]): Promise<TcpProxy> {
  const p = await startTcpProxy(targets.map((t) => t.port));
  cleanup.push(() => p.close());
  return p;
}

async function node(relays: string[]): Promise<TestNode> {
  const n = await startNode({ relays, env: { PARLEY_RATE_LIMIT_PER_MIN: '100000' } });
  cleanup.push(() => n.close());
  return n;
}

async function metric(r: SpawnedRelay, name: string): Promise<number> {
  const text = await (await fetch(r.url.replace('ws://', 'http://') + '/metrics')).text();
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Every message of the channel the node has, from the start. */
async function history(n: TestNode, ch: string): Promise<ReadMessage[]> {
  return (await n.call('sync_messages', { channel: ch, cursor: '0', limit: 500 })).messages;
}

const chats = (all: ReadMessage[]) => all.filter((m) => m.kind === 'chat').map((m) => m.body);

/** Alice on instance A, Bob on instance B, one channel whose only relay is the proxy. */
async function twoInstances(slots = ['invite:bob']) {
  const db = await pg.createDatabase();
  const [a, b] = [await relay(db), await relay(db)];
  const lb = await proxy([a, b]);
  lb.pin(0);
  const alice = await node([lb.url]);
  const created = await alice.call('create_channel', { name: 'two instances', slots });
  await until(async () => (await metric(a, 'parley_relay_connections')) === 1, { what: 'alice on A' });
  lb.pin(1);
  const bob = await node([lb.url]);
  await bob.call('join_channel', { invite_code: created.invites['invite:bob'] });
  await until(async () => (await metric(b, 'parley_relay_connections')) === 1, { what: 'bob on B' });
  // Reconnections are balanced like any new connection.
  lb.pin(null);
  return {
    db,
    a,
    b,
    lb,
    alice,
    bob,
    ch: created.channel as string,
    invites: created.invites as Record<string, string>,
  };
}

describe('two relay instances on one PostgreSQL database', () => {
  it('a node on instance A and a node on instance B exchange messages both ways', async () => {
    const { a, b, alice, bob, ch } = await twoInstances();
    await alice.call('post_message', { channel: ch, body: 'hello from A' });
    await collectUntil(bob, ch, (all) => chats(all).includes('hello from A'));
    await bob.call('post_message', { channel: ch, body: 'hello from B' });
    await collectUntil(alice, ch, (all) => chats(all).includes('hello from B'));
    // Each node stayed on its own instance the whole time.
    expect(await metric(a, 'parley_relay_connections')).toBe(1);
    expect(await metric(b, 'parley_relay_connections')).toBe(1);
    expect(await metric(a, 'parley_relay_entries_stored_total')).toBeGreaterThan(0);
    expect(await metric(b, 'parley_relay_entries_stored_total')).toBeGreaterThan(0);
    // Per-instance metrics: each committed appends, and each forwarded what the other stored.
    for (const r of [a, b]) {
      expect(await metric(r, 'parley_relay_append_seconds_count')).toBeGreaterThan(0);
      expect(await metric(r, 'parley_relay_notification_lag_seconds_count')).toBeGreaterThan(0);
      expect(await metric(r, 'parley_relay_rooms')).toBe(1);
      expect(await metric(r, 'parley_relay_store_up')).toBe(1);
    }
  });

  it('kill -9 of one instance mid-stream: nodes reconnect through the proxy, every message ' +
    'arrives exactly once', async () => {
    const { a, lb, alice, bob, ch } = await twoInstances();
    const N = 30;
    const want: string[] = [];
    for (let i = 0; i < N; i++) {
      if (i === 10) await a.kill('SIGKILL');
      await Promise.all([
        alice.call('post_message', { channel: ch, body: `alice ${i}` }),
        bob.call('post_message', { channel: ch, body: `bob ${i}` }),
      ]);
      want.push(`alice ${i}`, `bob ${i}`);
    }
    // Alice's node came back through the proxy to instance B (A refuses connections now).
    await until(() => lb.routed[1] >= 2, { what: 'a reconnection to B' });
    for (const n of [alice, bob]) {
      const seen = chats(await collectUntil(n, ch, (all) => chats(all).length >= want.length, 60_000));
      expect(seen.length).toBe(want.length);
      expect([...seen].sort()).toEqual([...want].sort());
      const report = await n.call('verify_channel', { channel: ch });
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
    }
  }, 120_000);

  it('PostgreSQL restarted under running relays: writes are refused while it is away, nothing is ' +
    'lost, both resume', async () => {
    const { a, b, alice, bob, ch } = await twoInstances();
    await alice.call('post_message', { channel: ch, body: 'before' });
    await collectUntil(bob, ch, (all) => chats(all).includes('before'));

    await pg.stopServer();
    await until(
      async () => (await metric(a, 'parley_relay_store_up')) === 0 && (await metric(b, 'parley_relay_store_up')) === 0,
      { what: 'store_up 0' },
    );
    for (let i = 0; i < 3; i++) await alice.call('post_message', { channel: ch, body: `while away ${i}` });
    await bob.call('post_message', { channel: ch, body: 'from B while away' });
    // The relays hold nothing they could not store: the writes were refused (1013), not forwarded.
    await until(async () => (await metric(a, 'parley_relay_updates_refused_total{reason="store-unavailable"}')) > 0, {
      what: 'a refused write',
    });
    expect(a.stderr()).toMatch(/store unavailable \(postgres .*\); refusing writes/);

    await pg.startServer();
    const want = ['before', 'while away 0', 'while away 1', 'while away 2', 'from B while away'];
    for (const n of [alice, bob]) {
      await until(
        async () => {
          const seen = chats(await history(n, ch));
          return want.every((w) => seen.includes(w));
        },
        { what: 'every message on every node', ms: 60_000 },
      );
      expect(chats(await history(n, ch)).sort()).toEqual([...want].sort());
    }
    await until(
      async () => (await metric(a, 'parley_relay_store_up')) === 1 && (await metric(b, 'parley_relay_store_up')) === 1,
      { what: 'store_up 1' },
    );
    expect(a.stderr()).toMatch(/store available again/);
    expect(await metric(a, 'parley_relay_store_outages_total')).toBeGreaterThanOrEqual(1);
    const report = await bob.call('verify_channel', { channel: ch });
    expect(report.ok).toBe(true);
  }, 120_000);

  it('a wiped database is restored by the members, and a later joiner gets the whole history', async () => {
    const { db, a, b, lb, alice, bob, ch, invites } = await twoInstances(['invite:bob', 'invite:carol']);
    for (let i = 0; i < 10; i++)
      await (i % 2 ? bob : alice).call('post_message', { channel: ch, body: `history ${i}` });
    const want = Array.from({ length: 10 }, (_, i) => `history ${i}`);
    await until(async () => chats(await history(alice, ch)).length === 10, { what: 'history on alice' });

    await Promise.all([a.kill('SIGKILL'), b.kill('SIGKILL')]);
    await pg.wipeDatabase(db);
    await relay(db, a.port);
    await relay(db, b.port);

    lb.pin(null);
    const carol = await node([lb.url]);
    await carol.call('join_channel', { invite_code: invites['invite:carol'] });
    await until(async () => chats(await history(carol, ch)).length >= 10, { what: 'history on carol', ms: 60_000 });
    expect(chats(await history(carol, ch)).sort()).toEqual(want.sort());
  }, 120_000);
});
