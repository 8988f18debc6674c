/**
 * Dishonest relays (tests/helpers/hostile-relay.ts): forged, flipped and cross-room entries are never delivered and
 * are reported; dropped, reordered and replayed updates lose and duplicate nothing once an honest relay is
 * reachable; a relay that withholds one member's events from another (a forked view) is named by the victim's
 * `who` and `verify_channel`.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startHostileRelay, type HostileRelay } from '../helpers/hostile-relay.js';
import { collectUntil, startNode, type TestNode } from '../helpers/mcp.js';
import { spawnRelay } from '../helpers/relay.js';
import { until } from '../helpers/until.js';
import { ready } from '../../protocol/sodium.js';
import { decodeInvite } from '../../protocol/invite.js';
import { fromB64u } from '../../protocol/bytes.js';
import { contentId } from '../../protocol/hash.js';
import { roomKeyPair, newIdentity, memberId } from '../../protocol/keys.js';
import { sealEvent, signEvent } from '../../protocol/event.js';

const cleanup: (() => Promise<unknown>)[] = [];
beforeAll(ready);
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

describe('hostile relay', () => {
  // Long: one scenario, told step by step.
  it('forged, flipped and cross-room entries are never delivered and are reported', async () => {
    const relay: HostileRelay = await startHostileRelay();
    cleanup.push(() => relay.close());
    const alice: TestNode = await startNode({ relays: [relay.url] });
    const bob: TestNode = await startNode({ relays: [relay.url] });
    cleanup.push(
      () => alice.close(),
      () => bob.close(),
    );
    const created = await alice.call('create_channel', { name: 'hostile', slots: ['invite:bob'] });
    const other = await alice.call('create_channel', { name: 'other room' });
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'] });
    const ch = created.channel;
    await alice.call('post_message', { channel: ch, body: 'genuine' });
    await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'genuine'));

    const inv = decodeInvite(created.invites['invite:bob']);
    const key = fromB64u(inv.key, 32)!;
    const room = roomKeyPair(key).room;
    const doc = relay.docs.get(room)!;
    const existing = [...doc.getMap<Uint8Array>('log').entries()];
    // 1. garbage under its own hash (passes the relay-side check, fails decryption)
    const garbage = new Uint8Array(randomBytes(300));
    // 2. a genuine entry with one byte flipped, under its original key (hash mismatch) and under its new hash
    const flipped = existing[existing.length - 1][1].slice();
    flipped[40] ^= 0xff;
    // 3. entries copied from another channel's room
    const otherRoom = roomKeyPair(fromB64u(decodeInvite(other.invites['invite:guest']).key, 32)!).room;
    const foreign = [...relay.docs.get(otherRoom)!.getMap<Uint8Array>('log').entries()];
    // 4. a well-formed event sealed with the right key but by someone who is not a member
    const mallory = newIdentity();
    const forged = sealEvent(
      signEvent(
        {
          v: 1,
          ch,
          ep: 0,
          type: 'message',
          author: memberId(mallory.publicKey),
          seq: 1,
          prev: null,
          deps: [],
          lamport: 1,
          ts: Date.now(),
          payload: { kind: 'chat', body: 'forged' },
        },
        mallory.secretKey,
      ),
      { ch, ep: 0, key },
    );
    relay.inject(room, [
      [contentId(garbage), garbage],
      [contentId(flipped), flipped],
      ...foreign,
      [forged.id, forged.sealed],
    ]);
    // An entry under a key that is not its hash is refused by the node's replica before it reaches the document,
    // with the rest of its update and whatever the same Yjs client writes after it (node/relay-guard.ts): last.
    relay.inject(room, [['A'.repeat(43), flipped]]);
    await alice.call('post_message', { channel: ch, body: 'after the attack' });
    const seen = await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'after the attack'));
    expect(seen.some((m) => m.body === 'forged')).toBe(false);
    for (const n of [alice, bob]) {
      const v = await n.call('verify_channel', { channel: ch });
      expect(v.ok).toBe(false);
      const text = v.problems.join('\n');
      expect(text).toContain(`relay update refused (bad-key) from ${relay.url}`);
      expect(text).toMatch(/decrypt/);
      expect(text).toMatch(/non-member/);
      const sync = await n.call('sync_messages', { channel: ch, cursor: '0', limit: 500 });
      expect(sync.messages.every((m) => m.body !== 'forged')).toBe(true);
    }
  });

  // Long: one scenario, told step by step.
  it(
    'a long history with forgeries mixed in: a joining node opens it on its open thread exactly as ' + 'inline',
    async () => {
      const relay = await startHostileRelay();
      cleanup.push(() => relay.close());
      const env = { PARLEY_RATE_LIMIT_PER_MIN: '100000' };
      const alice = await startNode({ relays: [relay.url], env });
      cleanup.push(() => alice.close());
      const created = await alice.call('create_channel', {
        name: 'long and hostile',
        slots: ['invite:bob', 'invite:carol'],
      });
      const ch = created.channel;
      const N = 150;
      for (let i = 0; i < N; i++) await alice.call('post_message', { channel: ch, body: `genuine ${i}` });
      const key = fromB64u(decodeInvite(created.invites['invite:bob']).key, 32)!;
      const room = roomKeyPair(key).room;
      const mallory = newIdentity();
      const injected: [string, Uint8Array][] = [];
      for (let i = 0; i < 40; i++) {
        const forged = sealEvent(
          signEvent(
            {
              v: 1,
              ch,
              ep: 0,
              type: 'message',
              author: memberId(mallory.publicKey),
              seq: i + 1,
              prev: injected.at(-1)?.[0] ?? null,
              deps: [],
              lamport: i + 1,
              ts: Date.now(),
              payload: { kind: 'chat', body: `forged ${i}` },
            },
            mallory.secretKey,
          ),
          { ch, ep: 0, key },
        );
        injected.push([forged.id, forged.sealed]);
      }
      for (let i = 0; i < 30; i++) {
        const garbage = new Uint8Array(randomBytes(200 + i));
        injected.push([contentId(garbage), garbage]);
      }
      relay.inject(room, injected);

      // The same history joined with the open thread (the default: dist/ has node/open-worker.js) and inline.
      const views: unknown[] = [];
      for (const [slot, threadEnv] of [
        ['invite:bob', {}],
        ['invite:carol', { PARLEY_OPEN_THREAD: '0' }],
      ] as const) {
        const node = await startNode({ relays: [relay.url], env: { ...env, ...threadEnv } });
        cleanup.push(() => node.close());
        await node.call('join_channel', { invite_code: created.invites[slot] });
        const msgs = (await node.call('sync_messages', { channel: ch, cursor: '0', limit: 500 })).messages as {
          body: string;
          kind: string;
        }[];
        const bodies = msgs.filter((m) => m.kind === 'chat').map((m) => m.body);
        expect(bodies).toEqual(Array.from({ length: N }, (_, i) => `genuine ${i}`));
        const v = await node.call('verify_channel', { channel: ch });
        expect(v.ok).toBe(false);
        // Sorted: which refusal is counted first depends on how the history was split into relay messages.
        const problems = (v.problems as string[]).map((p) => p.replace(relay.url, 'RELAY')).sort();
        // Mallory's chain: the first is refused (as a non-member's, or, concurrent with channel.create at lamport 1
        // and sorting before it, as coming first), and the rest wait forever for their refused predecessor.
        expect(problems).toHaveLength(3);
        expect(problems).toEqual(
          expect.arrayContaining([
            '30× entry refused: decrypt (from RELAY)',
            expect.stringMatching(
              new RegExp(
                `^event (by a non-member|before channel\\.create) \\(${memberId(mallory.publicKey).slice(0, 8)}\\)$`,
              ),
            ),
            expect.stringMatching(/^39 event\(s\) wait for missing dependencies/),
          ]),
        );
        // channel.create, the history, bob's claim and its admission, and carol's own.
        expect(v.events).toBe(N + 3 + 2 * views.length);
        views.push({ bodies, problems: problems.map((p) => p.replace('before channel.create', 'by a non-member')) });
      }
      expect(views[1]).toEqual(views[0]);
    },
  );

  it.each([
    ['reordered and replayed updates lose and duplicate nothing', { reorder: true, replay: true }, false],
    [
      'dropped, reordered and replayed updates lose and duplicate nothing when an honest relay is also reachable',
      { dropEvery: 3, reorder: true, replay: true },
      true,
    ],
  ] as const)('%s', async (_name, policy, withHonest) => {
    const relay = await startHostileRelay();
    cleanup.push(() => relay.close());
    const relays = [relay.url];
    if (withHonest) {
      const honest = await spawnRelay();
      cleanup.push(() => honest.stop());
      relays.push(honest.url);
    }
    const env = { PARLEY_RATE_LIMIT_PER_MIN: '100000' };
    const nodes = await Promise.all([0, 1, 2].map(() => startNode({ relays, env })));
    cleanup.push(...nodes.map((n) => () => n.close()));
    const [alice, bob, carol] = nodes;
    const created = await alice.call('create_channel', { name: 'lossy', slots: ['invite:bob', 'invite:carol'] });
    const ch = created.channel;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'] });
    await carol.call('join_channel', { invite_code: created.invites['invite:carol'] });
    const room = roomKeyPair(fromB64u(decodeInvite(created.invites['invite:bob']).key, 32)!).room;
    relay.setPolicy(room, { ...policy });

    const N = 20;
    for (let i = 0; i < N; i++)
      await Promise.all(nodes.map((n, k) => n.call('post_message', { channel: ch, body: `${k}:${i}` })));
    for (const n of nodes) {
      const all = await collectUntil(
        n,
        ch,
        (msgs) => msgs.filter((m) => /^\d:\d+$/.test(m.body)).length >= 3 * N,
        30_000,
      );
      const bodies = all.filter((m) => /^\d:\d+$/.test(m.body)).map((m) => m.body);
      expect(new Set(bodies).size).toBe(bodies.length);
      for (let k = 0; k < 3; k++) {
        expect(bodies.filter((b) => b.startsWith(`${k}:`))).toEqual(Array.from({ length: N }, (_, i) => `${k}:${i}`));
      }
      const v = await n.call('verify_channel', { channel: ch });
      expect(v.problems).toEqual([]);
    }
  });

  it(
    "a relay that withholds one member's events from another is named by the victim, and nothing is lost " +
      'once it serves them',
    async () => {
      const relay = await startHostileRelay();
      cleanup.push(() => relay.close());
      const env = { PARLEY_WITHHOLD_GRACE_MS: '1500' };
      const [alice, bob, carol] = [
        await startNode({ relays: [relay.url], env }),
        await startNode({ relays: [relay.url], env }),
        await startNode({ relays: [relay.url], env }),
      ];
      cleanup.push(
        () => alice.close(),
        () => bob.close(),
        () => carol.close(),
      );
      const created = await alice.call('create_channel', {
        name: 'forked',
        slots: ['invite:bob', 'invite:carol'],
        display_name: 'Alice',
      });
      const ch = created.channel;
      await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
      await carol.call('join_channel', { invite_code: created.invites['invite:carol'], display_name: 'Carol' });
      await alice.call('post_message', { channel: ch, body: 'before the fork' });
      await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'before the fork'));

      const room = roomKeyPair(fromB64u(decodeInvite(created.invites['invite:bob']).key, 32)!).room;
      const conns = relay.conns(room);
      const aliceClients = conns[0].writers;
      const bobClients = conns[1].writers;
      expect(aliceClients.size).toBeGreaterThan(0);
      expect(bobClients.size).toBeGreaterThan(0);
      // Bob's connections stop seeing anything Alice writes; Carol still sees everything.
      relay.setPolicy(room, {
        withhold: { clients: new Set(aliceClients), from: (c) => [...c.writers].some((w) => bobClients.has(w)) },
      });
      await bob.call('post_message', { channel: ch, body: 'bob is still here' });
      await alice.call('post_message', { channel: ch, body: 'only carol sees this' });
      await collectUntil(carol, ch, (all) => all.some((m) => m.body === 'only carol sees this'));

      const who = await until(
        () => bob.call('who', { channel: ch }),
        (w) => w.withholding.length > 0,
        { what: 'bob to report withholding' },
      );
      expect(who.withholding.join('\n')).toMatch(
        new RegExp(`relay ${relay.url} is withholding events: (Alice|Carol) signed that it has Alice's events`),
      );
      const v = await bob.call('verify_channel', { channel: ch });
      expect(v.ok).toBe(false);
      expect(v.problems.join('\n')).toMatch(/is withholding events/);
      const seen = await bob.call('sync_messages', { channel: ch, cursor: '0', limit: 500 });
      expect(seen.messages.some((m) => m.body === 'only carol sees this')).toBe(false);
      expect((await alice.call('who', { channel: ch })).withholding).toEqual([]);

      relay.setPolicy(room, {});
      await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'only carol sees this'));
      expect((await bob.call('who', { channel: ch })).withholding).toEqual([]);
    },
  );
});
