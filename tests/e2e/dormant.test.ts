/**
 * Dormant channels (node/dormant.ts) with a real relay: a node restarted with nothing to do starts its channels
 * dormant and still admits a newcomer and delivers a post to a waiting `sync_messages`; a channel left idle goes
 * dormant while the node runs, and wakes for a tool that names it or for a member's post.
 */
import { describe, expect, it } from 'vitest';
import { e2eScope } from '../helpers/scope.js';
import { removeHome, tempHome } from '../helpers/mcp.js';
import { until } from '../helpers/until.js';
import { ParleyNode } from '../../node/service.js';

const s = e2eScope();

describe('dormant channels', () => {
  it('a node restarted idle starts dormant, then admits a newcomer and delivers a post to a long-poll', async () => {
    const relay = await s.relay();
    let alice = await s.node(relay.url);
    const created = await alice.call('create_channel', { name: 'quiet', slots: ['invite:bob'] });
    await alice.call('post_message', { channel: created.channel, body: 'before the nap' });
    await until(
      () => alice.call('list_channels', { detail: 'full' }),
      (l) => (l.channels[0].relays[0] as { synced?: boolean }).synced === true,
    );
    // Read everything, so the long-poll below waits for what is new (and names no channel: naming one opens it).
    await alice.call('sync_messages', {});
    await alice.close();

    alice = await s.node(relay.url, { home: alice.home });
    await until(() => /channel\(s\) started/.test(alice.stderr()));
    expect(alice.stderr()).toMatch(/1 channel\(s\) started, 1 dormant/);
    const listed = await until(
      () => alice.call('list_channels'),
      (l) => l.channels[0].relays[0].connected === true,
    );
    expect(listed.channels[0].name).toBe('quiet');

    const waiting = alice.call('sync_messages', { wait_seconds: 30 });
    const bob = await s.node(relay.url);
    const joined = await bob.call('join_channel', { invite_code: created.invites['invite:bob'] });
    // Admitting Bob's claim took Alice's node: it woke for it.
    expect(joined.pending).toBe(false);
    await bob.call('post_message', { channel: created.channel, body: 'anyone awake?' });
    let got = (await waiting).messages.map((m) => m.body);
    while (!got.includes('anyone awake?'))
      got = (await alice.call('sync_messages', { wait_seconds: 30 })).messages.map((m) => m.body);
    expect(got).toContain('anyone awake?');
  }, 90_000);

  it('an idle channel goes dormant while the node runs, and wakes for a tool or a member’s post', async () => {
    const relay = await s.relay();
    const home = tempHome();
    s.cleanup.push(() => removeHome(home));
    const alice = await ParleyNode.open({
      home,
      relays: [relay.url],
      env: { ...process.env, PARLEY_DORMANT_AFTER_MS: '0' },
    });
    s.cleanup.push(() => alice.close());
    const { channel: ch, invites } = alice.createChannel({ name: 'naps', slots: ['invite:bob'] });
    let bob = await s.node(relay.url);
    await bob.call('join_channel', { invite_code: invites['invite:bob'] });
    await bob.call('post_message', { channel: ch, body: 'hello' });
    const delivered = (body: string) => alice.store.messagesSince(ch, 0, 1000).some((r) => r.body.includes(body));
    await until(() => delivered('hello'), { what: "Bob's post at Alice's node" });
    // With Bob online the channel stays open (his presence is watched); once he is gone it goes dormant. A negative
    // check: over a channel tick (2 s) with Bob online, it must not go dormant, so this waits a fixed time on purpose.
    await new Promise((r) => setTimeout(r, 2500));
    expect(alice.channels.has(ch)).toBe(true);
    await bob.close();
    await until(() => alice.dormant.has(ch), { ms: 20_000, what: 'the channel to go dormant' });
    expect(alice.channels.has(ch)).toBe(false);
    await until(() => (alice.listChannels().channels[0].relays[0] as { synced?: boolean }).synced === true, {
      what: 'the dormant rooms to sync',
    });

    // A tool naming it opens it, with everything it had.
    expect(
      alice
        .who({ channel: ch })
        .members.map((m) => m.slot)
        .sort(),
    ).toEqual(['invite:bob', 'owner']);
    expect(alice.channels.has(ch)).toBe(true);
    await until(() => alice.dormant.has(ch), { ms: 20_000, what: 'the channel to go dormant again' });

    // A member's post wakes it, and is delivered.
    bob = await s.node(relay.url, { home: bob.home });
    await bob.call('post_message', { channel: ch, body: 'wake up' });
    await until(() => delivered('wake up'), { ms: 20_000, what: "Bob's second post at Alice's node" });
    expect(alice.channels.has(ch)).toBe(true);
  }, 90_000);
});
