/**
 * Several relays and relay loss: a node syncs through every relay of a channel and keeps working while any one is
 * up; a relay whose data is wiped is restored by the members' nodes, and a later joiner still gets all history.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnRelay } from '../helpers/relay.js';
import { collectUntil, startNode, tempHome, type TestNode } from '../helpers/mcp.js';
import { summarize } from '../../dev/stats.js';

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function relay(opts: { dataDir?: string; port?: number } = {}) {
  const r = await spawnRelay(opts);
  cleanup.push(() => r.stop());
  return r;
}

async function node(relays: string[]): Promise<TestNode> {
  const n = await startNode({ relays, env: { PARLEY_RATE_LIMIT_PER_MIN: '100000' } });
  cleanup.push(() => n.close());
  return n;
}

describe('several relays', () => {
  it('with one of two relays dead for the whole test, nothing is lost', async () => {
    const [up, down] = [await relay(), await relay()];
    await down.kill('SIGKILL');
    const relays = [down.url, up.url];
    const [alice, bob] = [await node(relays), await node(relays)];
    const created = await alice.call('create_channel', { name: 'two relays', slots: ['invite:bob'] });
    const listed = (await alice.call('list_channels')).channels.find((c) => c.channel === created.channel);
    expect(listed?.relays.map((r) => r.url)).toEqual(relays);
    const ch = created.channel;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'] });

    const latencies: number[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 40; i++) {
      const waiting = bob.call('sync_messages', { channel: ch, cursor, wait_seconds: 10, limit: 500 });
      const t0 = performance.now();
      await alice.call('post_message', { channel: ch, body: `m${i}` });
      let got = await waiting;
      while (!got.messages.some((m) => m.body === `m${i}`)) {
        cursor = got.cursor;
        got = await bob.call('sync_messages', { channel: ch, cursor, wait_seconds: 10, limit: 500 });
      }
      latencies.push(performance.now() - t0);
      cursor = got.cursor;
    }
    const all = await bob.call('sync_messages', { channel: ch, cursor: '0', limit: 500 });
    const bodies = all.messages.filter((m) => m.kind === 'chat').map((m) => m.body);
    expect(bodies).toEqual(Array.from({ length: 40 }, (_, i) => `m${i}`));
    const status = (await alice.call('list_channels')).channels[0].relays;
    expect(status).toEqual([
      { url: down.url, connected: false },
      { url: up.url, connected: true },
    ]);
    const { p50, p99 } = summarize(latencies);
    console.log(
      `two relays, one dead: 40 messages, delivery latency p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
    );
  });

  it('a channel keeps syncing when its first relay dies mid-conversation', async () => {
    const [r1, r2] = [await relay(), await relay()];
    const [alice, bob] = [await node([r1.url, r2.url]), await node([r1.url, r2.url])];
    const created = await alice.call('create_channel', { name: 'failover', slots: ['invite:bob'] });
    const ch = created.channel;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'] });
    await alice.call('post_message', { channel: ch, body: 'via both' });
    await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'via both'));
    await r1.kill('SIGKILL');
    await alice.call('post_message', { channel: ch, body: 'via the survivor' });
    await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'via the survivor'));
  });
});

describe('relay data loss', () => {
  it('a wiped relay is restored by the members, and a later joiner gets the whole history', async () => {
    const dataDir = tempHome('parley-relay-');
    const r = await relay({ dataDir });
    const [alice, bob] = [await node([r.url]), await node([r.url])];
    const created = await alice.call('create_channel', { name: 'wipe', slots: ['invite:bob', 'invite:carol'] });
    const ch = created.channel;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'] });
    for (let i = 0; i < 20; i++)
      await (i % 2 ? bob : alice).call('post_message', { channel: ch, body: `history ${i}` });
    await collectUntil(alice, ch, (all) => all.filter((m) => m.body?.startsWith('history')).length === 20);

    await r.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    const fresh = await relay({ dataDir, port: r.port });

    const carol = await node([fresh.url]);
    await carol.call('join_channel', { invite_code: created.invites['invite:carol'] });
    const seen = await collectUntil(
      carol,
      ch,
      (all) => all.filter((m) => m.body?.startsWith('history')).length === 20,
      30_000,
    );
    expect(new Set(seen.filter((m) => m.body?.startsWith('history')).map((m) => m.body)).size).toBe(20);
  });
});
