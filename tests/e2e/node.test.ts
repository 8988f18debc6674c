/**
 * End to end: a real relay process and real `parley mcp` processes driven over stdio by the MCP SDK client.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { spawnRelay } from '../helpers/relay.js';
import {
  collectUntil,
  errorText,
  startNode,
  tempHome,
  compactResult,
  toolResult,
  type ReadMessage,
  type TestNode,
} from '../helpers/mcp.js';
import { fetchRoom } from '../helpers/doc.js';
import { ready } from '../../protocol/sodium.js';
import { decodeInvite } from '../../protocol/invite.js';
import { fromB64u, fromUtf8 } from '../../protocol/bytes.js';
import { openEvent } from '../../protocol/event.js';

type Relay = Awaited<ReturnType<typeof spawnRelay>>;
const cleanup: (() => Promise<unknown> | unknown)[] = [];

beforeAll(ready);
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function relay(dataDir?: string): Promise<Relay> {
  const r = await spawnRelay(dataDir ? { dataDir } : {});
  cleanup.push(() => r.stop());
  return r;
}

async function node(relays: string[], home?: string, env?: Record<string, string>): Promise<TestNode> {
  const n = await startNode({ relays, home, env });
  cleanup.push(() => n.close());
  return n;
}

async function pair(r: Relay, slots = ['invite:bob']) {
  const alice = await node([r.url]);
  const bob = await node([r.url]);
  const created = await alice.call('create_channel', { name: 'pair', slots, display_name: 'Alice' });
  const joined = await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
  return { alice, bob, created, joined, ch: created.channel as string };
}

describe('two nodes through a relay', () => {
  // Long: one scenario, told step by step.
  it('create, join, post, sync, who and list', async () => {
    const r = await relay();
    const { alice, bob, ch, joined } = await pair(r);
    expect(joined).toMatchObject({ channel: ch, name: 'pair', slot: 'invite:bob' });
    expect(joined.members.map((m) => m.slot).sort()).toEqual(['invite:bob', 'owner']);

    const posted = await alice.call('post_message', { channel: ch, body: 'hello bob' });
    expect(posted.id).toHaveLength(43);
    const seen = await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'hello bob'));
    const msg = seen.find((m) => m.body === 'hello bob')!;
    expect(['at', 'body', 'from', 'kind', 'name', 'seq']).toEqual(expect.arrayContaining(Object.keys(msg)));
    expect(msg).toMatchObject({
      from: 'owner',
      kind: 'chat',
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    });
    expect(seen.some((m) => m.kind === 'join' && m.from === 'invite:bob')).toBe(true);
    const full = await bob.call('sync_messages', { channel: ch, cursor: '0', limit: 500, detail: 'full' });
    expect(full.channel).toBeUndefined();
    expect(full.messages.find((m) => m.body === 'hello bob')).toMatchObject({
      from: 'owner',
      from_name: 'Alice',
      kind: 'chat',
      channel: ch,
      id: posted.id,
      seq: msg.seq,
    });
    const compact = await bob.raw('sync_messages', { channel: ch, cursor: '0', limit: 500 });
    const compactSync = compactResult('sync_messages', compact);
    expect(compactSync.channel).toBe(ch);
    const text = (compact.content[0] as { text: string }).text;
    expect(text.split('\n')[0]).toBe(`channel ${ch} · cursor ${compactSync.cursor}`);
    // The name comes with the owner's first message of the result, the channel's creation, and not again.
    expect(compactSync.messages.filter((m) => m.from === 'owner').map((m) => m.name)).toEqual(['Alice', undefined]);
    expect(text).toMatch(/\n#1 \S+ owner \(Alice\) system: /);
    expect(text).toContain(`\n#${msg.seq} ${msg.at} owner chat: hello bob`);
    expect(text).not.toContain(posted.id);

    await bob.call('post_message', {
      channel: ch,
      body: 'hi alice',
      kind: 'reply',
      to: 'owner',
      meta: { action_type: 'greeting' },
    });
    const back = await collectUntil(alice, ch, (all) => all.some((m) => m.body === 'hi alice'));
    expect(back.find((m) => m.body === 'hi alice')).toMatchObject({
      from: 'invite:bob',
      kind: 'reply',
      to: 'owner',
      meta: { action_type: 'greeting' },
    });

    const who = await alice.call('who', { channel: ch });
    expect(who.members.find((m) => m.slot === 'invite:bob')).toEqual({
      slot: 'invite:bob',
      name: 'Bob',
      role: 'member',
      is_bot: false,
      online: expect.any(Boolean),
    });
    expect(
      (await alice.call('who', { channel: ch, detail: 'full' })).members.find((m) => m.slot === 'invite:bob')?.id,
    ).toHaveLength(43);
    await bob.call('set_status', { channel: ch, status: 'working', note: 'on it' });
    await expect
      .poll(async () => (await alice.call('who', { channel: ch })).members.find((m) => m.slot === 'invite:bob'), {
        timeout: 10_000,
      })
      .toMatchObject({ online: true, status: 'working' });

    const list = await bob.call('list_channels');
    expect(list.channels).toEqual([
      expect.objectContaining({ channel: ch, name: 'pair', slot: 'invite:bob', epoch: 0, closed: false }),
    ]);
  });

  it('a long-poll wakes on a new message and subscribers are notified', async () => {
    const r = await relay();
    const { alice, bob, ch } = await pair(r);
    await collectUntil(alice, ch, (all) => all.some((m) => m.kind === 'join'));
    const updates: string[] = [];
    alice.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    await alice.client.subscribeResource({ uri: `parley://channel/${ch}` });
    const t0 = Date.now();
    const poll = alice.call('sync_messages', { channel: ch, wait_seconds: 20 });
    // Not a wait for a condition (the poll's waiting cannot be observed from here): a head start, so that bob's post
    // usually wakes a waiting poll. Without it the test still holds, through the poll's first read.
    await new Promise((res) => setTimeout(res, 300));
    await bob.call('post_message', { channel: ch, body: 'wake up' });
    const res = await poll;
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(res.messages.map((m) => m.body)).toContain('wake up');
    await expect.poll(() => updates.length, { timeout: 5000 }).toBeGreaterThan(0);
    expect(updates[0]).toBe(`parley://channel/${ch}`);
    const transcript = await alice.client.readResource({ uri: `parley://channel/${ch}` });
    expect((transcript.contents[0] as { text: string }).text).toContain('wake up');
  });

  it('bad input returns isError with one sentence and the node keeps working', async () => {
    const r = await relay();
    const n = await node([r.url], undefined, { PARLEY_BODY_LIMIT_BYTES: '1000' });
    const created = await n.call('create_channel', { name: 'limits' });
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['join_channel', { invite_code: 'parley:garbage' }, /invite code is damaged/],
      ['join_channel', { invite_code: 'hello' }, /not a Parley invite/],
      ['post_message', { channel: 'nope', body: 'x' }, /Unknown channel/],
      ['post_message', { channel: created.channel, body: 'x'.repeat(2000) }, /limit is 1,000 bytes/],
      ['set_status', { channel: created.channel, status: 'sleeping' }, /Invalid|invalid/],
      ['post_message', { channel: created.channel, body: 42 }, /expected string/],
      ['sync_messages', { cursor: 'not-a-cursor' }, /cursor/],
      ['update_channel', { channel: created.channel }, /Nothing to change/],
    ];
    for (const [name, args, pattern] of cases) {
      const res = await n.raw(name, args);
      expect(res.isError, name).toBe(true);
      expect(errorText(res)).toMatch(pattern);
      expect(errorText(res)).not.toMatch(/\n\s+at /);
    }
    expect((await n.call('post_message', { channel: created.channel, body: 'still fine' })).id).toHaveLength(43);
  });

  it('a secret never leaves the posting node', async () => {
    const r = await relay();
    const { alice, bob, ch, created } = await pair(r);
    const secret = 'AKIAIOSFODNN7EXAMPLE';
    const posted = await alice.call('post_message', {
      channel: ch,
      body: `deploy with key ${secret} please`,
      meta: { token: 'ghp_' + 'a'.repeat(36) },
    });
    expect(posted.redacted.length).toBeGreaterThan(0);
    const seen = await collectUntil(bob, ch, (all) => all.some((m) => m.id === posted.id), 20_000, 'full');
    const msg = seen.find((m) => m.id === posted.id)!;
    expect(msg.body).not.toContain(secret);
    expect(JSON.stringify(msg.meta)).not.toContain('ghp_');
    // Everything the relay holds, decrypted with the channel key: the secret is in none of it.
    const inv = decodeInvite(created.invites['invite:bob']);
    const key = fromB64u(inv.key, 32)!;
    const entries = await fetchRoom(r.url, key);
    expect(entries.size).toBeGreaterThan(2);
    let found = false;
    for (const value of entries.values()) {
      const o = openEvent(value, { ch, ep: 0, key });
      expect(o.ok).toBe(true);
      if (o.ok && fromUtf8(o.event.bodyBytes).includes(secret)) found = true;
      if (o.ok && fromUtf8(o.event.bodyBytes).includes('ghp_a')) found = true;
    }
    expect(found).toBe(false);
  });
});

describe('durability', () => {
  it('a restarted node keeps its identity, channels and cursor, and returns what arrived meanwhile', async () => {
    const r = await relay();
    const { alice, bob, ch } = await pair(r);
    await alice.call('post_message', { channel: ch, body: 'before restart' });
    await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'before restart'));
    const whoBefore = await bob.call('who', { channel: ch, detail: 'full' });
    const bobId = whoBefore.members.find((m) => m.slot === 'invite:bob')?.id;
    await bob.close();
    await alice.call('post_message', { channel: ch, body: 'while you were away' });
    const bob2 = await node([r.url], bob.home);
    const list = await bob2.call('list_channels');
    expect(list.channels.map((c) => c.channel)).toEqual([ch]);
    const after = await collectUntil(bob2, ch, (all) => all.some((m) => m.body === 'while you were away'));
    expect(after.some((m) => m.body === 'before restart')).toBe(false);
    const whoAfter = await bob2.call('who', { channel: ch, detail: 'full' });
    expect(whoAfter.members.find((m) => m.slot === 'invite:bob')?.id).toBe(bobId);
  });

  it('a post made while the relay is down arrives once it is back', async () => {
    const dataDir = tempHome('parley-relay-');
    const r = await relay(dataDir);
    const { alice, bob, ch } = await pair(r);
    await r.stop();
    const posted = await alice.call('post_message', { channel: ch, body: 'offline post' });
    expect(posted.id).toHaveLength(43);
    const r2 = await spawnRelay({ dataDir, port: r.port });
    cleanup.push(() => r2.stop());
    const seen = await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'offline post'), 30_000);
    expect(seen.filter((m) => m.body === 'offline post')).toHaveLength(1);
  });
});

describe('one profile, two processes', () => {
  it('two parley mcp processes of one user post side by side: one chain, accepted by peers, seen by both', async () => {
    const dataDir = tempHome('parley-relay-');
    const r = await relay(dataDir);
    const env = { PARLEY_RATE_LIMIT_PER_MIN: '100000' };
    const alice = await node([r.url], undefined, env);
    const bob1 = await node([r.url], undefined, env);
    const created = await alice.call('create_channel', { name: 'two hosts', slots: ['invite:bob'] });
    const ch = created.channel as string;
    await bob1.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
    // The second process does not poll the shared store on its own here, and with the relay down it hears of bob1's
    // posts only from that store: it takes them in one batch when it next posts, more than a node opens inline, and
    // its post must still continue the chain from them with the right lamport clock.
    const bob2 = await node([r.url], bob1.home, { ...env, PARLEY_STORE_POLL_MS: '600000' });
    await r.stop();
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 100; i++) await bob1.call('post_message', { channel: ch, body: `one ${round}:${i}` });
      await bob2.call('post_message', { channel: ch, body: `two ${round}` });
    }
    const r2 = await spawnRelay({ dataDir, port: r.port });
    cleanup.push(() => r2.stop());
    await bob1.call('post_message', { channel: ch, body: 'one again' });
    const expected = [
      ...Array.from({ length: 100 }, (_, i) => `one 0:${i}`),
      'two 0',
      ...Array.from({ length: 100 }, (_, i) => `one 1:${i}`),
      'two 1',
      'one again',
    ];
    // Read from the start with explicit cursors: the two processes share the profile's stored read position.
    const readAll = async (n: TestNode) => {
      const msgs: ReadMessage[] = [];
      for (let cursor = '0', more = true; more; ) {
        const r = await n.call('sync_messages', { channel: ch, cursor, limit: 500 });
        msgs.push(...r.messages);
        ({ cursor, more } = r);
      }
      return msgs.filter((m) => m.kind === 'chat').map((m) => m.body as string);
    };
    for (const n of [alice, bob1, bob2]) {
      await expect
        .poll(async () => (await readAll(n)).includes('one again'), { timeout: 30_000, interval: 200 })
        .toBe(true);
      expect(await readAll(n)).toEqual(expected);
      expect((await n.call('verify_channel', { channel: ch })).problems).toEqual([]);
    }
  });
});

describe('membership races', () => {
  it('two joins racing for one invite slot: exactly one wins, on both nodes', async () => {
    const r = await relay();
    const owner = await node([r.url]);
    const created = await owner.call('create_channel', { name: 'race', slots: ['invite:seat'] });
    const [a, b] = [await node([r.url]), await node([r.url])];
    const code = created.invites['invite:seat'];
    const results = await Promise.all([
      a.raw('join_channel', { invite_code: code, display_name: 'A' }),
      b.raw('join_channel', { invite_code: code, display_name: 'B' }),
    ]);
    const winners = results.filter((x) => !x.isError);
    expect(winners).toHaveLength(1);
    const loser = results.find((x) => x.isError)!;
    expect(errorText(loser)).toMatch(/claimed by another member/);
    const winnerName = toolResult('join_channel', winners[0]).members.find((m) => m.slot === 'invite:seat')?.name;
    await expect
      .poll(
        async () =>
          (await owner.call('who', { channel: created.channel })).members.find((m) => m.slot === 'invite:seat')?.name,
        { timeout: 10_000 },
      )
      .toBe(winnerName);
  });
});
