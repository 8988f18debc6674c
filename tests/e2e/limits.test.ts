/**
 * Nothing wedged, nothing lost (docs/SECURITY.md): events relays would refuse are refused at the door, a post is
 * durable before it is sent, a failed commit sends nothing, and a restored identity continues its own chain.
 * Real relay, real `parley mcp` nodes over MCP stdio.
 */
import { spawnSync } from 'node:child_process';
import { renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { e2eScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { startRelay } from '../../relay/server.js';
import { decodeInvite, encodeInvite } from '../../protocol/invite.js';
import { CLI, collectUntil, errorText, tempHome } from '../helpers/mcp.js';

const { cleanup, relay, node } = e2eScope();

/** Alice and Bob in one channel. */
async function pair(url: string, aliceEnv?: Record<string, string>) {
  const alice = await node(url, { env: aliceEnv });
  const bob = await node(url);
  const created = await alice.call('create_channel', { name: 'limits', slots: ['invite:bob'] });
  await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
  return { alice, bob, ch: created.channel as string, code: created.invites['invite:bob'] as string };
}

function identity(home: string, args: string[]) {
  const r = spawnSync(process.execPath, [CLI, 'identity', ...args], {
    env: { ...process.env, PARLEY_HOME: home, PARLEY_PASSPHRASE: 'correct horse' },
    encoding: 'utf8',
  });
  expect(r.status).toBe(0);
}

describe('limits at the door', () => {
  it('an event relays would refuse is refused before it is signed, and the next post flows', async () => {
    const r = await relay();
    const { alice, bob, ch } = await pair(r.url);
    const cases: [string, Record<string, unknown>][] = [
      // 40,000 quotes are 40 KB of body but 80 KB once JSON-escaped inside the signed event.
      ['escaped body', { body: '"'.repeat(40_000) }],
      ['big meta', { body: 'x', meta: { b: 'y'.repeat(200_000) } }],
    ];
    for (const [what, args] of cases) {
      const res = await alice.raw('post_message', { channel: ch, ...args });
      expect(res.isError, what).toBe(true);
      expect(errorText(res)).toMatch(
        /would be [\d,]+ bytes once signed and encrypted; relays accept at most 65,536 bytes per event/,
      );
      await alice.call('post_message', { channel: ch, body: `after the ${what}` });
      await collectUntil(bob, ch, (all) => all.some((m) => m.body === `after the ${what}`), 10_000);
    }
    // Just under the limit is delivered whole.
    const big = 'z'.repeat(49_000);
    await alice.call('post_message', { channel: ch, body: big });
    await collectUntil(bob, ch, (all) => all.some((m) => m.body === big), 10_000);
    const v = await bob.call('verify_channel', { channel: ch });
    expect(v.problems).toEqual([]);
  });
});

describe('a relay with smaller limits', () => {
  it(
    'refuses one of our events once: the node stops sending it there and the connection keeps ' + 'carrying the rest',
    async () => {
      const big = await relay();
      const small = await startRelay(
        { port: 0, dataDir: tempHome('parley-small-relay-'), maxValueBytes: 4000 },
        () => undefined,
      );
      cleanup.push(() => small.close());
      const refusals = () =>
        Number(/parley_relay_updates_refused_total\{reason="oversize"\} (\d+)/.exec(small.metrics.render())?.[1] ?? 0);
      const stored = () => Number(/parley_relay_entries_stored_total (\d+)/.exec(small.metrics.render())?.[1] ?? 0);
      const alice = await node(big.url);
      const created = await alice.call('create_channel', {
        name: 'two relays',
        slots: ['invite:bob'],
        relays: [big.url, small.url],
      });
      const ch = created.channel;
      // Bob reaches the channel only through the small relay.
      const bob = await node(small.url);
      const inv = decodeInvite(created.invites['invite:bob']);
      await bob.call('join_channel', { invite_code: encodeInvite({ ...inv, relays: [small.url] }) });
      const before = stored();
      await alice.call('post_message', { channel: ch, body: 'w'.repeat(10_000) });
      for (let i = 1; i <= 3; i++) await alice.call('post_message', { channel: ch, body: `small ${i}` });
      // The three small posts land on the small relay; the big one was refused once and is not sent again.
      await until(
        async () => stored(),
        (n) => n >= before + 3,
      );
      await bob.call('post_message', { channel: ch, body: 'bob through the small relay' });
      await collectUntil(alice, ch, (all) => all.some((m) => m.body === 'bob through the small relay'));
      expect(refusals()).toBe(1);
      const relays = (await alice.call('list_channels', { detail: 'full' })).channels[0].relays;
      expect(relays.find((r) => r.url === small.url)).toMatchObject({ connected: true });
      expect(relays.find((r) => r.url === small.url)?.value_limit).toBeLessThan(11_000);
      expect((await alice.call('verify_channel', { channel: ch })).problems.join('\n')).toMatch(
        /refused an update of ours for its size/,
      );
      // Alice's later posts continue her chain from the big one, which cannot reach Bob through this relay: Bob's node
      // says what it waits for rather than delivering out of order.
      expect((await bob.call('verify_channel', { channel: ch })).problems.join('\n')).toMatch(
        /wait for missing dependencies/,
      );
    },
  );
});

describe('a relay that refuses a room', () => {
  it(
    'is shown with its reason, without flicker; the post warns it is not sent yet; nothing is lost once ' +
      'the relay accepts',
    async () => {
      const dataDir = tempHome('parley-rooms-relay-');
      let r = await startRelay({ port: 0, dataDir, maxRooms: 1 }, () => undefined);
      const port = r.port;
      cleanup.push(() => r.close());
      const alice = await node(r.url);
      await alice.call('create_channel', { name: 'first' });
      // The relay holds one room: the second channel's room is refused.
      const second = await alice.call('create_channel', { name: 'second', slots: ['invite:bob'] });
      const refusedRelay = async () =>
        (await alice.call('list_channels', { detail: 'full' })).channels.find((c) => c.channel === second.channel)
          ?.relays[0];
      const shown = await until(refusedRelay, (x) => x?.refused !== undefined);
      expect(shown).toMatchObject({ connected: false, refused: expect.stringMatching(/^4503 /) });
      // Stable: it stays refused across the node's reconnect attempts. A negative check (nothing changes for a
      // while), so it samples over a fixed time on purpose.
      for (let i = 0; i < 5; i++) {
        expect(await refusedRelay()).toMatchObject({ connected: false });
        await new Promise((res) => setTimeout(res, 300));
      }
      expect((await alice.call('who', { channel: second.channel })).refused_relays.join('\n')).toMatch(
        /refuses this channel: 4503/,
      );
      const posted = await alice.call('post_message', { channel: second.channel, body: 'kept until a relay takes it' });
      expect(posted.warning).toMatch(/Stored locally but not sent yet: .*4503/);

      // The relay restarts without the room limit: the post goes out and a member receives it.
      await r.close();
      r = await startRelay({ port, dataDir }, () => undefined);
      cleanup.push(() => r.close());
      const bob = await node(r.url);
      await bob.call('join_channel', { invite_code: second.invites['invite:bob'] });
      await collectUntil(bob, second.channel, (all) => all.some((m) => m.body === 'kept until a relay takes it'));
      await until(refusedRelay, (x) => x !== undefined && x.refused === undefined && x.connected);
    },
  );
});

describe('many channels', () => {
  it('a node in a dozen channels prints no MaxListenersExceededWarning', async () => {
    const r = await relay();
    const alice = await node(r.url);
    for (let i = 0; i < 12; i++) await alice.call('create_channel', { name: `channel ${i}` });
    await until(
      () => alice.call('list_channels'),
      (l) => l.channels.length === 12 && l.channels.every((c) => c.relays[0].connected),
    );
    expect(alice.stderr()).not.toMatch(/MaxListenersExceededWarning/);
  });
});

describe('a relay without the history', () => {
  it('tells the joiner the owner has not reached it yet, rather than blaming the relay', async () => {
    const [a, b] = [await relay(), await relay()];
    const alice = await node(a.url);
    const created = await alice.call('create_channel', { name: 'elsewhere', slots: ['invite:bob'] });
    const bob = await node(b.url, { env: { PARLEY_JOIN_ADMIT_MS: '0' } });
    const inv = decodeInvite(created.invites['invite:bob']);
    const res = await bob.raw('join_channel', { invite_code: encodeInvite({ ...inv, relays: [b.url] }) });
    expect(errorText(res)).toMatch(/The channel's owner has not reached this relay yet/);
  });
});

describe('write-ahead posts', () => {
  it('a post whose commit fails sends nothing; later posts and a restart never reuse its seq', async () => {
    const r = await relay();
    // Alice's 1st post is the channel.create, her 2nd Bob's admission; the 4th is her second message.
    const { alice, bob, ch } = await pair(r.url, { PARLEY_FAULT_POSTS: '4' });
    await alice.call('post_message', { channel: ch, body: 'one' });
    const failed = await alice.raw('post_message', { channel: ch, body: 'two (fails)' });
    expect(failed.isError).toBe(true);
    expect(errorText(failed)).toMatch(/Could not store the message .*disk is full.*nothing was sent/);
    await alice.call('post_message', { channel: ch, body: 'three' });
    await alice.call('post_message', { channel: ch, body: 'four' });
    const seen = await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'four'), 10_000);
    expect(seen.filter((m) => m.kind === 'chat').map((m) => m.body)).toEqual(['one', 'three', 'four']);
    const v = await bob.call('verify_channel', { channel: ch });
    expect(v.problems).toEqual([]);
    expect(v.ok).toBe(true);
    expect((await alice.call('verify_channel', { channel: ch })).problems).toEqual([]);
    // After a restart the stored head is the one that committed: no seq is used twice.
    await alice.close();
    const again = await node(r.url, { home: alice.home });
    await again.call('post_message', { channel: ch, body: 'five' });
    await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'five'), 10_000);
    expect((await bob.call('verify_channel', { channel: ch })).problems).toEqual([]);
  });

  it('an identity restored into a new profile continues its chain instead of starting again at seq 1', async () => {
    const r = await relay();
    const { alice, bob, ch, code } = await pair(r.url);
    for (const body of ['b1', 'b2', 'b3']) await bob.call('post_message', { channel: ch, body });
    await collectUntil(alice, ch, (all) => all.some((m) => m.body === 'b3'));
    const backup = join(tempHome('parley-backup-'), 'bob.parley');
    identity(bob.home, ['export', '-o', backup]);
    await bob.close();
    const fresh = tempHome();
    identity(fresh, ['import', backup]);
    const restored = await node(r.url, { home: fresh });
    const joined = await restored.call('join_channel', { invite_code: code });
    expect(joined).toMatchObject({ slot: 'invite:bob', pending: false });
    await restored.call('post_message', { channel: ch, body: 'back on a new machine' });
    await collectUntil(alice, ch, (all) => all.some((m) => m.body === 'back on a new machine'));
    expect((await alice.call('verify_channel', { channel: ch })).problems).toEqual([]);
  });
});

describe('small ones', () => {
  it('set_status counts toward the rate limit, and parley export -o writes a private file', async () => {
    const r = await relay();
    const { alice, ch } = await pair(r.url, { PARLEY_RATE_LIMIT_PER_MIN: '3' });
    await alice.call('post_message', { channel: ch, body: 'one' });
    await alice.call('set_status', { channel: ch, status: 'working' });
    await alice.call('set_status', { channel: ch, status: 'waiting' });
    const res = await alice.raw('set_status', { channel: ch, status: 'blocked' });
    expect(errorText(res)).toMatch(/Rate limit reached/);
    const file = join(tempHome('parley-export-'), 'out.json');
    const exported = spawnSync(process.execPath, [CLI, 'export', ch, '-o', file], {
      env: { ...process.env, PARLEY_HOME: alice.home },
      encoding: 'utf8',
    });
    expect(exported.status).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('recovery', () => {
  it(
    'a damaged store is one clear sentence; moved away, the owner gets back in through any invite with ' +
      'every epoch key',
    async () => {
      const r = await relay();
      const alice = await node(r.url);
      const [bob, carol] = [await node(r.url), await node(r.url)];
      const created = await alice.call('create_channel', { name: 'recover', slots: ['invite:bob', 'invite:carol'] });
      const ch = created.channel;
      await bob.call('join_channel', { invite_code: created.invites['invite:bob'] });
      await carol.call('join_channel', { invite_code: created.invites['invite:carol'] });
      expect((await alice.call('update_channel', { channel: ch, kick: 'invite:carol' })).epoch).toBe(1);
      await alice.call('post_message', { channel: ch, body: 'in epoch one' });
      await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'in epoch one'));
      await alice.close();

      const store = join(alice.home, 'node.sqlite');
      for (const f of [store, `${store}-wal`, `${store}-shm`]) rmSync(f, { force: true });
      writeFileSync(store, 'this is not a database, it was damaged by a bad disk '.repeat(100));
      for (const cmd of [['channels'], ['mcp']]) {
        const res = spawnSync(process.execPath, [CLI, ...cmd], {
          env: { ...process.env, PARLEY_HOME: alice.home, PARLEY_RELAY: r.url },
          encoding: 'utf8',
          input: '',
        });
        expect(res.status, cmd.join(' ')).toBe(1);
        expect(res.stderr).toMatch(/The local store .*node\.sqlite is damaged .*Move it away/);
        expect(res.stderr).not.toMatch(/\n\s+at /);
      }
      renameSync(store, `${store}.damaged`);

      const back = await node(r.url, { home: alice.home });
      const joined = await back.call('join_channel', { invite_code: created.invites['invite:bob'] });
      expect(joined).toMatchObject({ slot: 'owner', pending: false });
      await until(
        () => back.call('list_channels'),
        (l) => l.channels[0]?.epoch === 1,
      );
      const history = await collectUntil(back, ch, (all) => all.some((m) => m.body === 'in epoch one'));
      expect(history.length).toBeGreaterThan(0);
      await back.call('post_message', { channel: ch, body: 'the owner is back' });
      await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'the owner is back'));
      expect((await bob.call('verify_channel', { channel: ch })).problems).toEqual([]);
    },
  );
});
