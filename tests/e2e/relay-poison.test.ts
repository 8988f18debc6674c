/**
 * A hostile relay cannot poison a node's replica (issue 13, attack 4). Alice's channel uses a hostile relay
 * (tests/helpers/hostile-relay.ts) and an honest one; Bob only the honest one (his invite names only that relay). The
 * hostile relay sends Alice an update deleting one of her own `log` entries (a delete set, no structs), or
 * overwriting one, as a stock Yjs peer would write it. Her node must refuse it before it touches her document: her
 * posts keep reaching Bob through the honest relay (which sees nothing to refuse from her), she keeps receiving his,
 * the refusal is named in `verify_channel` and `who`, nothing of it is stored, and all of that holds again after her
 * node restarts.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import * as Y from 'yjs';
import { until } from '../helpers/until.js';
import { startHostileRelay } from '../helpers/hostile-relay.js';
import { collectUntil, startNode, type TestNode } from '../helpers/mcp.js';
import { spawnRelay, type SpawnedRelay } from '../helpers/relay.js';
import { ready } from '../../protocol/sodium.js';
import { decodeInvite, encodeInvite } from '../../protocol/invite.js';
import { fromB64u } from '../../protocol/bytes.js';
import { roomKeyPair } from '../../protocol/keys.js';
import { parseLogUpdate } from '../../protocol/log-update.js';

const cleanup: (() => Promise<unknown>)[] = [];
beforeAll(ready);
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

type Attack = 'delete-set' | 'overwrite';

/** The poison, written by Yjs itself in a scratch copy of the relay's room: what any stock peer would send. */
function poisonFor(attack: Attack, room: Y.Doc, key: string): Uint8Array {
  const scratch = new Y.Doc();
  Y.applyUpdate(scratch, Y.encodeStateAsUpdate(room));
  let update: Uint8Array | null = null;
  scratch.on('update', (u: Uint8Array) => (update = u));
  const log = scratch.getMap<Uint8Array>('log');
  if (attack === 'delete-set') log.delete(key);
  else log.set(key, new Uint8Array(randomBytes(200)));
  return update!;
}

async function refusedByRelay(relay: SpawnedRelay): Promise<string[]> {
  const text = await (await fetch(relay.url.replace('ws://', 'http://') + '/metrics')).text();
  return text
    .split('\n')
    .filter((l) =>
      /^parley_relay_updates_refused_total\{reason="(delete-set|not-log|overwrite|not-item)"\} [1-9]/.test(l),
    );
}

// Soft assertions: a failing run reports every broken property, not only the first.

/** Alice's posts reach Bob, Bob's reach Alice, and Alice's honest relay is connected. */
async function stillSyncing(alice: TestNode, bob: TestNode, ch: string, honest: string, tag: string): Promise<void> {
  for (let i = 0; i < 5; i++) await alice.call('post_message', { channel: ch, body: `${tag}: alice ${i}` });
  const atBob = await collectUntil(bob, ch, (all) => all.filter((m) => m.body.startsWith(`${tag}: alice`)).length >= 5);
  expect(atBob.filter((m) => m.body.startsWith(`${tag}: alice`)).map((m) => m.body)).toEqual(
    [0, 1, 2, 3, 4].map((i) => `${tag}: alice ${i}`),
  );
  await bob.call('post_message', { channel: ch, body: `${tag}: bob` });
  await collectUntil(alice, ch, (all) => all.some((m) => m.body === `${tag}: bob`));
  const listed = (await alice.call('list_channels')).channels.find((c) => c.channel === ch);
  expect.soft(listed?.relays.find((r) => r.url === honest)).toEqual({ url: honest, connected: true });
}

describe("a hostile relay cannot poison a node's replica", () => {
  // Long: one scenario, told step by step.
  it.each([
    ['a delete set removing one of her own entries', 'delete-set', 'delete-set'],
    ['an overwrite of one of her own entries', 'overwrite', 'not-log'],
  ] as const)(
    '%s: refused and reported; Alice keeps syncing through the honest relay, also after a restart',
    async (_name, attack: Attack, reason) => {
      const hostile = await startHostileRelay();
      cleanup.push(() => hostile.close());
      const honest = await spawnRelay();
      cleanup.push(() => honest.stop());
      const aliceRelays = [hostile.url, honest.url];
      let alice = await startNode({ relays: aliceRelays });
      const bob = await startNode({ relays: [honest.url] });
      cleanup.push(
        () => alice.close(),
        () => bob.close(),
      );
      const created = await alice.call('create_channel', { name: 'poisoned', slots: ['invite:bob'] });
      const ch = created.channel;
      const invite = decodeInvite(created.invites['invite:bob']);
      await bob.call('join_channel', { invite_code: encodeInvite({ ...invite, relays: [honest.url] }) });
      const { id } = await alice.call('post_message', { channel: ch, body: 'before the attack' });
      await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'before the attack'));

      const room = roomKeyPair(fromB64u(invite.key, 32)!).room;
      const roomDoc = await until(
        () => hostile.docs.get(room),
        (d): d is Y.Doc => d?.getMap('log').has(id) === true,
        { what: "the hostile relay to hold alice's post" },
      );
      const poison = poisonFor(attack, roomDoc, id);
      if (attack === 'delete-set') expect(poison.length).toBeLessThanOrEqual(12);
      await hostile.poison(room, [poison]);

      await stillSyncing(alice, bob, ch, honest.url, 'after the attack');
      const expected = `relay update refused (${reason}) from ${hostile.url}`;
      const refusal = new RegExp(`^(\\d+× )?${escapeRegExp(expected)}$`);
      const v = await alice.call('verify_channel', { channel: ch });
      expect.soft(v.ok).toBe(false);
      expect.soft(v.problems).toEqual([expect.stringMatching(refusal)]);
      expect.soft((await alice.call('who', { channel: ch })).refused_relays).toEqual([expect.stringMatching(refusal)]);
      expect.soft(await bob.call('verify_channel', { channel: ch })).toMatchObject({ ok: true, problems: [] });
      expect.soft((await bob.call('who', { channel: ch })).refused_relays).toEqual([]);
      expect.soft(await refusedByRelay(honest)).toEqual([]);

      // Nothing of the poison was stored: Alice's stored document is new `log` entries only.
      await alice.close();
      const db = new Database(join(alice.home, 'node.sqlite'), { readonly: true });
      const rows = (db.prepare('SELECT data FROM doc_updates WHERE ch = ?').all(ch) as { data: Buffer }[]).map(
        (r) => new Uint8Array(r.data),
      );
      db.close();
      expect(rows.length).toBeGreaterThan(0);
      expect.soft(parseLogUpdate(Y.mergeUpdates(rows))).toMatchObject({ ok: true });

      // Restarted on the same profile: the hostile relay poisons the new connection too.
      alice = await startNode({ home: alice.home, relays: aliceRelays });
      await until(
        async () => {
          const problems = (await alice.call('verify_channel', { channel: ch })).problems as string[];
          return problems.some((p) => refusal.test(p));
        },
        { what: 'the restarted node to refuse the poison again' },
      );
      await stillSyncing(alice, bob, ch, honest.url, 'after the restart');
      expect.soft(await refusedByRelay(honest)).toEqual([]);
    },
  );
});

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
