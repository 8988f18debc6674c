/**
 * A node in a thousand channels, as real processes: every channel reaches the relay over the node's one socket, a
 * member joins the newest channel and receives a post, and after a restart every channel is back on that one socket.
 * Kicks (each a new epoch, so a new room) do not add sockets either, and rooms of older epochs are let go.
 */
import { describe, expect, it } from 'vitest';
import { e2eScope } from '../helpers/scope.js';
import { collectUntil, type TestNode } from '../helpers/mcp.js';
import { until } from '../helpers/until.js';

const s = e2eScope();
const CHANNELS = 1000;

/** The relay's own gauges and counters (GET /metrics). */
async function relayMetrics(port: number) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    sockets: read('parley_relay_connections'),
    rooms: read('parley_relay_mux_rooms'),
    entries: read('parley_relay_entries_stored_total'),
  };
}

describe('a node in many channels', () => {
  it(`${CHANNELS} channels sync over one socket, a member joins the newest, and all come back after a ` +
    `restart`, async () => {
    const relay = await s.relay();
    let alice = await s.node(relay.url);
    let newest: { channel: string; invites: Record<string, string> } | undefined;
    for (let i = 0; i < CHANNELS; i++) {
      newest = await alice.call('create_channel', { name: `channel ${i}`, slots: ['invite:bob'] });
    }
    // Every channel's create is on the relay, every room is open, and the node holds one socket.
    const up = await until(
      () => relayMetrics(relay.port),
      (m) => m.rooms === CHANNELS && m.entries >= CHANNELS,
      60_000,
    );
    expect(up.sockets).toBe(1);

    const bob = await s.node(relay.url);
    const joined = await bob.call('join_channel', { invite_code: newest!.invites['invite:bob'] });
    expect(joined.pending).toBe(false);
    await alice.call('post_message', { channel: newest!.channel, body: 'welcome to the newest channel' });
    await collectUntil(bob, newest!.channel, (all) => all.some((m) => m.body === 'welcome to the newest channel'));

    await alice.close();
    alice = await s.node(relay.url, { home: alice.home });
    // The first answer does not wait for the channels to open. It shows a page, the most recent activity first
    // (Bob's post), and how many there are.
    const first = await alice.call('list_channels');
    expect(first.total).toBe(CHANNELS);
    expect(first.channels).toHaveLength(50);
    expect(first.channels[0].channel).toBe(newest!.channel);
    // Nothing to do in any of them: all start dormant (node/dormant.ts), linked to their rooms but not loaded.
    await until(() => /channel\(s\) started/.test(alice.stderr()), 30_000);
    expect(alice.stderr()).toMatch(new RegExp(`${CHANNELS} channel\\(s\\) started, ${CHANNELS} dormant`));
    const back = await until(
      () => alice.call('list_channels', { limit: CHANNELS }),
      (l) => l.channels.every((c) => c.relays[0].connected),
      60_000,
    );
    expect(back.channels).toHaveLength(CHANNELS);
    const after = await until(
      () => relayMetrics(relay.port),
      (m) => m.rooms === CHANNELS + 1,
      30_000,
    );
    expect(after.sockets).toBe(2);
    // Still in sync after the restart: a post from Bob reaches Alice.
    await bob.call('post_message', { channel: newest!.channel, body: 'and back' });
    await collectUntil(alice, newest!.channel, (all) => all.some((m) => m.body === 'and back'));
    expect(alice.stderr()).not.toMatch(/MaxListenersExceededWarning/);
  }, 240_000);

  it('two kicks in one channel add no socket, and the older epochs are let go', async () => {
    const relay = await s.relay();
    const env = { PARLEY_OLD_EPOCH_GRACE_MS: '0' };
    const alice = await s.node(relay.url, { env });
    const created = await alice.call('create_channel', {
      name: 'rotating',
      slots: ['invite:bob', 'invite:carol', 'invite:dave'],
    });
    const ch = created.channel;
    const others: TestNode[] = [];
    for (const slot of ['invite:bob', 'invite:carol', 'invite:dave']) {
      const n = await s.node(relay.url, { env });
      await n.call('join_channel', { invite_code: created.invites[slot] });
      others.push(n);
    }
    const before = await relayMetrics(relay.port);
    expect(before.sockets).toBe(4);
    await alice.call('update_channel', { channel: ch, kick: 'invite:bob' });
    await alice.call('update_channel', { channel: ch, kick: 'invite:carol' });
    await until(
      () => others[2].call('list_channels'),
      (l) => l.channels[0].epoch === 2,
    );
    await alice.call('post_message', { channel: ch, body: 'after two rotations' });
    await collectUntil(others[2], ch, (all) => all.some((m) => m.body === 'after two rotations'));
    // No node opened a second socket. Once synced, Alice and Dave let epochs 0 and 1 go (no slot is open, so no
    // claim can come with an invite's epoch-0 key); Bob stays in epoch 0 and Carol in epoch 1, the last they have.
    const settled = await until(
      () => relayMetrics(relay.port),
      (m) => m.rooms === 4,
      30_000,
    );
    expect(settled.sockets).toBe(4);
  }, 120_000);

  it('members stay in epoch 0 while a slot is open: an invite from before a rotation still admits its ' +
    'holder', async () => {
    const relay = await s.relay();
    const env = { PARLEY_OLD_EPOCH_GRACE_MS: '0' };
    const alice = await s.node(relay.url, { env });
    const created = await alice.call('create_channel', {
      name: 'open slot',
      slots: ['invite:bob', 'invite:carol', 'invite:eve'],
    });
    const ch = created.channel;
    const bob = await s.node(relay.url, { env });
    const carol = await s.node(relay.url, { env });
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'] });
    await carol.call('join_channel', { invite_code: created.invites['invite:carol'] });
    await alice.call('update_channel', { channel: ch, kick: 'invite:carol' });
    await until(
      () => bob.call('list_channels'),
      (l) => l.channels[0].epoch === 1,
    );
    // Eve's slot is open, so Alice and Bob stay in epoch 0, where her claim will land: five links in all (Alice and
    // Bob in epochs 0 and 1, Carol in epoch 0), and they stay.
    await until(
      () => relayMetrics(relay.port),
      (m) => m.rooms === 5,
      30_000,
    );
    const eve = await s.node(relay.url, { env });
    const joined = await eve.call('join_channel', { invite_code: created.invites['invite:eve'] });
    expect(joined.pending).toBe(false);
    await until(
      () => eve.call('list_channels'),
      (l) => l.channels[0].epoch === 1,
    );
    await eve.call('post_message', { channel: ch, body: 'eve, admitted after the rotation' });
    await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'eve, admitted after the rotation'));
  }, 120_000);
});
