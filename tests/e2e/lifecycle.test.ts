/**
 * Membership lifecycle end to end: kick and leave rotate the epoch so a removed member cannot read or post what
 * follows; close and expiry stop posts but keep the transcript readable and exportable.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { e2eScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { CLI, collectUntil, errorText } from '../helpers/mcp.js';
import type { Transcript } from '../../node/transcript.js';
import { fetchRoom } from '../helpers/doc.js';
import { epochKeysOf } from '../helpers/profile.js';
import { openEvent } from '../../protocol/event.js';
import { relayAuthParams } from '../../protocol/keys.js';

const { relay, node } = e2eScope();

/** Closes with the relay's close code, or 'open' if the relay let the socket in and kept it for 1.5 s. */
function tryRoom(url: string, room: string, ts: string, sig: string): Promise<number | 'open'> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url}/${room}?ts=${ts}&sig=${sig}`);
    const timer = setTimeout(() => {
      ws.terminate();
      resolve('open');
    }, 1500);
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    ws.on('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      resolve(res.statusCode ?? 0);
    });
    ws.on('error', () => undefined);
  });
}

describe('kick and leave rotate the epoch', () => {
  it('a kicked member keeps old history but cannot read or post into the new epoch', async () => {
    const r = await relay();
    const [alice, bob, carol] = [await node(r.url), await node(r.url), await node(r.url)];
    const created = await alice.call('create_channel', {
      name: 'team',
      slots: ['invite:bob', 'invite:carol'],
      display_name: 'Alice',
    });
    const ch = created.channel;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
    await carol.call('join_channel', { invite_code: created.invites['invite:carol'], display_name: 'Carol' });
    await alice.call('post_message', { channel: ch, body: 'before the kick' });
    await collectUntil(carol, ch, (all) => all.some((m) => m.body === 'before the kick'));
    await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'before the kick'));

    const denied = await bob.raw('update_channel', { channel: ch, kick: 'invite:carol' });
    expect(denied.isError).toBe(true);
    expect(errorText(denied)).toMatch(/Only the channel owner/);

    const kicked = await alice.call('update_channel', { channel: ch, kick: 'invite:carol' });
    expect(kicked.epoch).toBe(1);
    await until(
      () => bob.call('list_channels'),
      (l) => l.channels[0].epoch === 1,
    );
    await alice.call('post_message', { channel: ch, body: 'after the kick' });
    await bob.call('post_message', { channel: ch, body: 'bob after the kick' });
    const bobSaw = await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'after the kick'));
    expect(bobSaw.map((m) => m.body)).not.toContain('before the kick'); // cursor carried on across the epoch
    await collectUntil(alice, ch, (all) => all.some((m) => m.body === 'bob after the kick'));

    // Carol keeps the old epoch's history and gets no key for the new one.
    const history = await carol.call('sync_messages', { channel: ch, cursor: '0', limit: 500 });
    expect(history.messages.some((m) => m.body === 'before the kick')).toBe(true);
    expect(history.messages.some((m) => m.body === 'after the kick')).toBe(false);
    const carolKeys = epochKeysOf(carol.home, ch);
    expect([...carolKeys.keys()]).toEqual([0]);

    // Every byte of the new room that the relay serves is undecryptable with what Carol holds.
    const newKey = epochKeysOf(alice.home, ch).get(1)!;
    const newRoom = await fetchRoom(r.url, newKey);
    expect(newRoom.size).toBeGreaterThanOrEqual(3);
    for (const [, sealed] of newRoom) {
      expect(openEvent(sealed, { ch, ep: 1, key: carolKeys.get(0)! }).ok).toBe(false);
      expect(openEvent(sealed, { ch, ep: 0, key: carolKeys.get(0)! }).ok).toBe(false);
    }

    // Carol cannot even enter the new room: her only key does not sign for it.
    const { room: room1 } = relayAuthParams(newKey);
    const { ts, sig } = relayAuthParams(carolKeys.get(0)!);
    const outcome = await tryRoom(r.url, room1, ts, sig);
    expect(outcome).not.toBe('open');

    // Carol's node knows it was removed.
    const post = await carol.raw('post_message', { channel: ch, body: 'let me back in' });
    expect(post.isError).toBe(true);
    expect(errorText(post)).toMatch(/not a member/);
  });

  it('leaving rotates too, and the remaining members carry on', async () => {
    const r = await relay();
    const [alice, bob, carol] = [await node(r.url), await node(r.url), await node(r.url)];
    const created = await alice.call('create_channel', {
      name: 'leavers',
      slots: ['invite:bob', 'invite:carol', 'bot:dice'],
      bot: { preset: 'dice' },
    });
    const ch = created.channel;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'] });
    await carol.call('join_channel', { invite_code: created.invites['invite:carol'] });
    await until(
      () => alice.call('who', { channel: ch }),
      (w) => w.members.filter((m) => !m.is_bot).length === 3,
    );
    await carol.call('post_message', { channel: ch, kind: 'roll', body: '1d6' });
    await collectUntil(carol, ch, (all) => all.some((m) => m.kind === 'rolled'));
    expect(await bob.call('leave_channel', { channel: ch })).toEqual({ ok: true });
    await until(
      () => alice.call('list_channels'),
      (l) => l.channels[0].epoch === 1,
    );
    await until(
      () => carol.call('list_channels'),
      (l) => l.channels[0].epoch === 1,
    );
    await alice.call('post_message', { channel: ch, body: 'bob has gone' });
    await collectUntil(carol, ch, (all) => all.some((m) => m.body === 'bob has gone'));
    expect(epochKeysOf(bob.home, ch).has(1)).toBe(false);
    const who = await alice.call('who', { channel: ch });
    expect(
      who.members
        .filter((m) => !m.is_bot)
        .map((m) => m.slot)
        .sort(),
    ).toEqual(['invite:carol', 'owner']);

    // The bot carries on in the new epoch, and every remaining node still verifies every step.
    await carol.call('post_message', { channel: ch, kind: 'roll', body: '2d6' });
    await collectUntil(carol, ch, (all) => all.some((m) => m.kind === 'rolled' && /2d6/.test(m.body)));
    for (const n of [alice, carol]) {
      const v = await until(
        () => n.call('verify_channel', { channel: ch }),
        (r) => r.bots[0]?.verified === r.bots[0]?.steps && r.bots[0]?.steps >= 5,
      );
      expect(v.problems).toEqual([]);
      expect(v.bots[0]).toMatchObject({ mismatches: 0, pending: 0 });
    }
  });
});

describe('close and expiry', () => {
  it('a closed channel refuses posts everywhere but stays readable and exportable', async () => {
    const r = await relay();
    const [alice, bob] = [await node(r.url), await node(r.url)];
    const created = await alice.call('create_channel', { name: 'closing', slots: ['invite:bob'] });
    const ch = created.channel;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'] });
    await bob.call('post_message', { channel: ch, body: 'last words' });
    await collectUntil(alice, ch, (all) => all.some((m) => m.body === 'last words'));
    expect(await alice.call('update_channel', { channel: ch, close: true })).toMatchObject({ closed: true });
    await until(
      () => bob.call('list_channels'),
      (l) => l.channels[0].closed === true,
    );
    for (const n of [alice, bob]) {
      const res = await n.raw('post_message', { channel: ch, body: 'anyone?' });
      expect(res.isError).toBe(true);
      expect(errorText(res)).toMatch(/is closed/);
    }
    const history = await bob.call('sync_messages', { channel: ch, cursor: '0', limit: 500 });
    expect(history.messages.some((m) => m.body === 'last words')).toBe(true);
    const exported = spawnSync(process.execPath, [CLI, 'export', ch], {
      env: { ...process.env, PARLEY_HOME: bob.home },
      encoding: 'utf8',
    });
    expect(exported.status).toBe(0);
    expect((JSON.parse(exported.stdout) as Transcript).events.some((e) => e.body.includes('channel.close'))).toBe(true);
  });

  it('an expired channel refuses posts with the expiry time', async () => {
    const r = await relay();
    const alice = await node(r.url);
    const created = await alice.call('create_channel', { name: 'brief', expires_in_hours: 1 / 3600 });
    const expiresAt = (await alice.call('list_channels')).channels[0].expires_at ?? '';
    expect(expiresAt).toMatch(/^\d{4}-/);
    // The compact form gives whole seconds: the expiry is within the second it names.
    await until(() => Date.now() > Date.parse(expiresAt) + 1000, { what: 'the expiry time to pass' });
    const res = await alice.raw('post_message', { channel: created.channel, body: 'too late' });
    expect(res.isError).toBe(true);
    expect(errorText(res)).toMatch(/expired at/);
    expect(
      (await alice.call('sync_messages', { channel: created.channel, cursor: '0' })).messages.length,
    ).toBeGreaterThan(0);
  });
});
