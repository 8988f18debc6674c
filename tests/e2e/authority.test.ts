/**
 * Membership authority against a member or a leaked invite (docs/membership.md, docs/SECURITY.md). Each attack is
 * made by hand: the attacker signs and seals the event the rules forbid and pushes it into the real relay, as any
 * holder of the epoch key can. Real relay, real `parley mcp` nodes over MCP stdio.
 *
 * Over 400 lines: one hand-made attack per test, all against the same setup and helpers.
 */
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { e2eScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { CLI, collectUntil, errorText, startNode, tempHome, type TestNode } from '../helpers/mcp.js';
import { fetchRoom } from '../helpers/doc.js';
import { epochKeysOf } from '../helpers/profile.js';
import { craft, headOf, identityOf, pushEntries } from '../helpers/forge.js';
import { openEvent } from '../../protocol/event.js';
import { decodeInvite } from '../../protocol/invite.js';
import { fromB64u, toB64u } from '../../protocol/bytes.js';
import { memberId, newEpochKey, newIdentity, randomBytes, sealToMember, type KeyPair } from '../../protocol/keys.js';
import { signSlotClaim } from '../../node/payloads.js';

const { cleanup, relay, node } = e2eScope();

/** A slot claim made by hand with an invite code's slot secret: deps [] and lamport 1 unless told otherwise. */
function forgedClaim(code: string, who: KeyPair, name: string, extra: { deps?: string[]; lamport?: number } = {}) {
  const inv = decodeInvite(code);
  const slotSecret = newIdentity(fromB64u(inv.slotSeed, 32)!).secretKey;
  const epoch = { ch: inv.ch, ep: inv.ep, key: fromB64u(inv.key, 32)! };
  const payload = {
    slot: inv.slot,
    name,
    slot_sig: toB64u(signSlotClaim(inv.ch, inv.slot, memberId(who.publicKey), slotSecret)),
    entropy: toB64u(randomBytes(32)),
  };
  return { epoch, event: craft(who, epoch, { type: 'member.join', payload, ...extra }) };
}

/** Everyone an epoch key was ever sealed to, read from the relay's stored bytes with every key Alice holds. */
async function keyRecipients(
  relayUrl: string,
  ch: string,
  keys: Map<number, Uint8Array>,
): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [ep, key] of keys) {
    for (const [, sealed] of await fetchRoom(relayUrl, key)) {
      const opened = openEvent(sealed, { ch, ep, key });
      if (!opened.ok) continue;
      const { type, payload } = opened.event.body;
      const keysField = payload.keys as Record<string, unknown> | undefined;
      if ((type !== 'epoch.rotate' && type !== 'epoch.key') || !keysField) continue;
      for (const [member, sealedKeys] of Object.entries(keysField)) {
        const eps = type === 'epoch.rotate' ? [Number(payload.next_ep)] : Object.keys(sealedKeys as object).map(Number);
        out.set(member, [...(out.get(member) ?? []), ...eps]);
      }
    }
  }
  return out;
}

/** `parley export` from a node's profile, then `parley verify --json` on the file: the offline verdict. */
function verifyOffline(home: string, ch: string): { ok: boolean; problems: string[] } {
  const exported = spawnSync(process.execPath, [CLI, 'export', ch], {
    env: { ...process.env, PARLEY_HOME: home },
    encoding: 'utf8',
  });
  expect(exported.status).toBe(0);
  const file = join(tempHome('parley-export-'), 'transcript.json');
  writeFileSync(file, exported.stdout);
  const verified = spawnSync(process.execPath, [CLI, 'verify', file, '--json'], { encoding: 'utf8' });
  return JSON.parse(verified.stdout);
}

const problemsOf = async (n: TestNode, ch: string): Promise<string[]> =>
  (await n.call('verify_channel', { channel: ch })).problems;
const slotsOf = async (n: TestNode, ch: string) =>
  Object.fromEntries(
    (await n.call('who', { channel: ch, detail: 'full' })).members.filter((m) => !m.is_bot).map((m) => [m.slot, m.id]),
  );

describe('membership authority', () => {
  // Long: one scenario, told step by step.
  it(
    "a kicked member's slot stays closed: no new identity gets in with the old code, and no key " + 'is sealed to one',
    async () => {
      const r = await relay();
      const [alice, bob, carol] = [await node(r.url), await node(r.url), await node(r.url)];
      const created = await alice.call('create_channel', {
        name: 'kick',
        slots: ['invite:bob', 'invite:carol'],
        display_name: 'Alice',
      });
      const ch = created.channel;
      const carolCode = created.invites['invite:carol'];
      await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
      await carol.call('join_channel', { invite_code: carolCode, display_name: 'Carol' });
      // A rival claim made while Carol holds the slot: it must not become the holder once Carol is gone.
      const rival = newIdentity();
      const early = forgedClaim(carolCode, rival, 'rival');
      await pushEntries(r.url, early.epoch.key, [early.event]);
      await until(
        () => problemsOf(alice, ch),
        (p) => p.some((x) => /rival claim on invite:carol by rival .* Carol holds the slot/.test(x)),
      );

      expect((await alice.call('update_channel', { channel: ch, kick: 'invite:carol' })).epoch).toBe(1);
      await until(
        () => bob.call('list_channels'),
        (l) => l.channels[0].epoch === 1,
      );

      // 1. A fresh profile with Carol's old code is turned away.
      const mallory = await node(r.url);
      const res = await mallory.raw('join_channel', { invite_code: carolCode });
      expect(res.isError).toBe(true);
      expect(errorText(res)).toMatch(/invite:carol is closed/);

      // 2. A hand-made claim of the closed slot, in epoch 0, with no deps and lamport 1.
      const eve = newIdentity();
      const late = forgedClaim(carolCode, eve, 'eve');
      await pushEntries(r.url, late.epoch.key, [late.event]);
      await until(
        () => problemsOf(alice, ch),
        (p) => p.some((x) => /rival claim on invite:carol by eve .* the slot is closed/.test(x)),
      );
      await alice.call('post_message', { channel: ch, body: 'after the kick' });
      await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'after the kick'));
      for (const n of [alice, bob]) {
        const who = await n.call('who', { channel: ch, detail: 'full' });
        expect(who.members.map((m) => m.id)).not.toContain(memberId(eve.publicKey));
        expect(who.members.map((m) => m.id)).not.toContain(memberId(rival.publicKey));
        expect(who.waiting).toEqual([]);
      }

      // Nobody but current members ever received a key: not Eve, not the rival, and not Carol after epoch 0.
      const recipients = await keyRecipients(r.url, ch, epochKeysOf(alice.home, ch));
      expect(recipients.has(memberId(eve.publicKey))).toBe(false);
      expect(recipients.has(memberId(rival.publicKey))).toBe(false);
      expect(recipients.has(memberId(identityOf(carol.home).publicKey))).toBe(false);
      expect(recipients.get(memberId(identityOf(bob.home).publicKey))).toEqual([1]);

      const offline = verifyOffline(alice.home, ch);
      expect(offline.ok).toBe(false);
      expect(offline.problems).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/rival claim on invite:carol by eve .* the slot is closed/),
          expect.stringMatching(/rival claim on invite:carol by rival .* the slot is closed/),
        ]),
      );
    },
  );

  it('a leaked invite cannot take a held slot, not even with a lamport-1 claim', async () => {
    const r = await relay();
    const [alice, bob] = [await node(r.url), await node(r.url)];
    const created = await alice.call('create_channel', { name: 'held', slots: ['invite:bob'] });
    const ch = created.channel;
    const code = created.invites['invite:bob'];
    const joined = await bob.call('join_channel', { invite_code: code, display_name: 'Bob' });
    expect(joined.pending).toBe(false);
    await bob.call('post_message', { channel: ch, body: 'hello from bob' });
    await collectUntil(alice, ch, (all) => all.some((m) => m.body === 'hello from bob'));
    const bobId = memberId(identityOf(bob.home).publicKey);

    const thief = await node(r.url);
    const res = await thief.raw('join_channel', { invite_code: code });
    expect(res.isError).toBe(true);
    expect(errorText(res)).toMatch(/already claimed/);

    const mallory = newIdentity();
    const claim = forgedClaim(code, mallory, 'mallory');
    await pushEntries(r.url, claim.epoch.key, [claim.event]);
    for (const n of [alice, bob])
      await until(
        () => problemsOf(n, ch),
        (p) => p.some((x) => /rival claim on invite:bob by mallory .* Bob holds the slot/.test(x)),
      );
    // An admission of the thief's claim by someone who may not admit (the thief itself) changes nothing either.
    const admit = craft(mallory, claim.epoch, {
      type: 'member.admit',
      seq: 2,
      prev: claim.event.id,
      deps: [claim.event.id],
      lamport: 2,
      payload: { slot: 'invite:bob', member: memberId(mallory.publicKey), claim: claim.event.id },
    });
    await pushEntries(r.url, claim.epoch.key, [admit]);
    await until(
      () => problemsOf(alice, ch),
      (p) => p.some((x) => /member\.admit by mallory .* only the owner or an admin may admit/.test(x)),
    );

    for (const n of [alice, bob]) expect((await slotsOf(n, ch))['invite:bob']).toBe(bobId);
    await bob.call('post_message', { channel: ch, body: 'still mine' });
    await collectUntil(alice, ch, (all) => all.some((m) => m.body === 'still mine'));
    const offline = verifyOffline(bob.home, ch);
    expect(offline.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/rival claim on invite:bob/),
        expect.stringMatching(/member\.admit by mallory .* only the owner or an admin may admit/),
      ]),
    );
  });

  it(
    "a member's forged channel.create changes nothing: a later joiner sees the real owner and " + 'the real history',
    async () => {
      const r = await relay();
      const [alice, bob] = [await node(r.url), await node(r.url)];
      const created = await alice.call('create_channel', {
        name: 'real',
        slots: ['invite:bob', 'invite:carol'],
        display_name: 'Alice',
      });
      const ch = created.channel;
      await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
      await alice.call('post_message', { channel: ch, body: 'alice was here' });
      await bob.call('post_message', { channel: ch, body: 'bob was here' });
      await collectUntil(alice, ch, (all) => all.some((m) => m.body === 'bob was here'));

      // Bob continues his own chain with a second channel.create naming himself owner, written as Yjs client 0.
      const bobKeys = identityOf(bob.home);
      const head = headOf(bob.home, ch);
      const inv = decodeInvite(created.invites['invite:bob']);
      const epoch = { ch, ep: 0, key: fromB64u(inv.key, 32)! };
      const forged = craft(bobKeys, epoch, {
        type: 'channel.create',
        seq: head.seq + 1,
        prev: head.id,
        lamport: head.lamport + 1,
        payload: {
          name: 'bob owns this',
          slots: [{ slot: 'invite:carol', pubkey: toB64u(newIdentity().publicKey) }],
          relays: [r.url],
          expires_at: null,
          owner_name: 'Bob',
          salt: toB64u(randomBytes(16)),
        },
      });
      const lone = craft(newIdentity(), epoch, {
        type: 'channel.create',
        payload: { name: 'fork', slots: [], relays: [r.url], expires_at: null, salt: toB64u(randomBytes(16)) },
      });
      await pushEntries(r.url, epoch.key, [forged, lone], 0);
      await until(
        () => problemsOf(alice, ch),
        (p) => p.filter((x) => /forged channel\.create/.test(x)).length === 2,
      );

      const carol = await node(r.url);
      const joined = await carol.call('join_channel', {
        invite_code: created.invites['invite:carol'],
        display_name: 'Carol',
      });
      expect(joined.name).toBe('real');
      const who = await carol.call('who', { channel: ch, detail: 'full' });
      expect(who.members.find((m) => m.slot === 'owner')?.id).toBe(memberId(identityOf(alice.home).publicKey));
      const history = await carol.call('sync_messages', { channel: ch, cursor: '0', limit: 500 });
      expect(history.messages.map((m) => m.body)).toEqual(expect.arrayContaining(['alice was here', 'bob was here']));
      for (const n of [alice, bob, carol])
        expect((await problemsOf(n, ch)).some((p) => /forged channel\.create/.test(p))).toBe(true);
      const offline = verifyOffline(carol.home, ch);
      expect(offline.problems).toEqual(expect.arrayContaining([expect.stringMatching(/forged channel\.create/)]));
    },
  );
});

describe('roles and admission', () => {
  // Long: one scenario, told step by step.
  it(
    'an observer reads but cannot post (its forged posts are refused everywhere); an admin kicks; ownership ' +
      "outlives the old owner's profile",
    async () => {
      const r = await relay();
      const [alice, dave, olga, bob] = [await node(r.url), await node(r.url), await node(r.url), await node(r.url)];
      const created = await alice.call('create_channel', {
        name: 'roles',
        slots: ['admin:ops', 'observer:audit', 'invite:bob'],
        display_name: 'Alice',
      });
      const ch = created.channel;
      await dave.call('join_channel', { invite_code: created.invites['admin:ops'], display_name: 'Dave' });
      await olga.call('join_channel', { invite_code: created.invites['observer:audit'], display_name: 'Olga' });
      await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
      const roles = Object.fromEntries(
        (await alice.call('who', { channel: ch })).members.filter((m) => !m.is_bot).map((m) => [m.slot, m.role]),
      );
      expect(roles).toEqual({
        owner: 'owner',
        'admin:ops': 'admin',
        'observer:audit': 'observer',
        'invite:bob': 'member',
      });

      const denied = await olga.raw('post_message', { channel: ch, body: 'may I?' });
      expect(denied.isError).toBe(true);
      expect(errorText(denied)).toMatch(/observer/);
      // Olga's node would not post, so she signs the message herself, continuing her own chain.
      const head = headOf(olga.home, ch);
      const epoch0 = { ch, ep: 0, key: epochKeysOf(alice.home, ch).get(0)! };
      const forged = craft(identityOf(olga.home), epoch0, {
        type: 'message',
        seq: head.seq + 1,
        prev: head.id,
        lamport: head.lamport + 1,
        payload: { kind: 'chat', body: 'observer speaks' },
      });
      await pushEntries(r.url, epoch0.key, [forged]);
      for (const n of [alice, dave, bob])
        await until(
          () => problemsOf(n, ch),
          (p) => p.some((x) => /event by an observer/.test(x)),
        );
      await alice.call('post_message', { channel: ch, body: 'owner speaks' });
      for (const n of [dave, olga, bob]) {
        const seen = await collectUntil(n, ch, (all) => all.some((m) => m.body === 'owner speaks'));
        expect(seen.map((m) => m.body)).not.toContain('observer speaks');
      }

      // The admin removes a member: the epoch rotates, and the admin's node hands the new key to everyone but Bob.
      expect((await dave.call('update_channel', { channel: ch, kick: 'invite:bob' })).epoch).toBe(1);
      const notMine = await dave.raw('update_channel', {
        channel: ch,
        role: { slot: 'observer:audit', role: 'member' },
      });
      expect(errorText(notMine)).toMatch(/Only the channel owner/);
      for (const n of [alice, olga])
        await until(
          () => n.call('list_channels'),
          (l) => l.channels[0].epoch === 1,
        );
      expect(epochKeysOf(bob.home, ch).has(1)).toBe(false);

      // Alice hands the channel to Dave and deletes her profile; Dave acts as owner, and everyone agrees who that is.
      await alice.call('update_channel', { channel: ch, role: { slot: 'admin:ops', role: 'owner' } });
      const daveId = memberId(identityOf(dave.home).publicKey);
      for (const n of [dave, olga])
        await until(
          () => slotsOf(n, ch),
          (s) => s.owner === daveId,
        );
      await alice.close();
      rmSync(alice.home, { recursive: true, force: true });
      await dave.call('update_channel', {
        channel: ch,
        name: 'roles, carried on',
        role: { slot: 'observer:audit', role: 'member' },
      });
      await until(
        () => olga.call('list_channels'),
        (l) => l.channels[0].name === 'roles, carried on',
      );
      await until(
        () => olga.call('who', { channel: ch }),
        (w) => w.members.some((m) => m.slot === 'observer:audit' && m.role === 'member'),
      );
      await olga.call('post_message', { channel: ch, body: 'promoted' });
      await collectUntil(dave, ch, (all) => all.some((m) => m.body === 'promoted'));
      expect((await problemsOf(dave, ch)).filter((p) => !/observer/.test(p))).toEqual([]);
    },
  );

  it(
    "a claim waits while the owner is away (pending, read-only) and is admitted when the owner's " + 'node comes back',
    async () => {
      const r = await relay();
      const home = tempHome();
      let alice = await startNode({ relays: [r.url], home });
      const created = await alice.call('create_channel', { name: 'later', slots: ['invite:bob'] });
      const ch = created.channel;
      await alice.call('post_message', { channel: ch, body: 'welcome' });
      // Alice goes away once the relay holds what she wrote.
      const key = fromB64u(decodeInvite(created.invites['invite:bob']).key, 32)!;
      await until(
        async () => (await fetchRoom(r.url, key)).size,
        (n) => n >= 2,
      );
      await alice.close();
      const bob = await startNode({ relays: [r.url], env: { PARLEY_JOIN_ADMIT_MS: '1500' } });
      cleanup.push(() => bob.close());
      const first = await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
      expect(first).toMatchObject({ channel: ch, pending: true });
      const early = await bob.raw('post_message', { channel: ch, body: 'hello?' });
      expect(errorText(early)).toMatch(/waits for the owner or an admin to admit you/);
      expect((await bob.call('sync_messages', { channel: ch, cursor: '0' })).messages.map((m) => m.body)).toContain(
        'welcome',
      );

      alice = await startNode({ relays: [r.url], home });
      cleanup.push(() => alice.close());
      const again = await until(
        () => bob.call('join_channel', { invite_code: created.invites['invite:bob'] }),
        (j) => j.pending === false,
      );
      expect(again.slot).toBe('invite:bob');
      await bob.call('post_message', { channel: ch, body: 'admitted' });
      await collectUntil(alice, ch, (all) => all.some((m) => m.body === 'admitted'));
    },
  );
});

describe('epoch keys handed out before delivery', () => {
  it("a member's hand-crafted epoch.key sealing a key to another member is taken by no node", async () => {
    const r = await relay();
    const [alice, bob, carol] = [await node(r.url), await node(r.url), await node(r.url)];
    const created = await alice.call('create_channel', { name: 'keys', slots: ['invite:bob', 'invite:carol'] });
    const ch = created.channel;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'] });
    await carol.call('join_channel', { invite_code: created.invites['invite:carol'] });

    // Bob, a plain member, continues his chain with an epoch.key giving Carol (and Alice) a key of his own for
    // epoch 7, exactly as the owner's node hands keys to a member admitted from an old epoch.
    const bobKeys = identityOf(bob.home);
    const head = headOf(bob.home, ch);
    const epoch = { ch, ep: 0, key: fromB64u(decodeInvite(created.invites['invite:bob']).key, 32)! };
    const bogus = newEpochKey();
    const keys: Record<string, Record<string, string>> = {};
    for (const n of [alice, carol]) {
      const pk = identityOf(n.home).publicKey;
      keys[memberId(pk)] = { '7': toB64u(sealToMember(bogus, pk)) };
    }
    const forged = craft(bobKeys, epoch, {
      type: 'epoch.key',
      seq: head.seq + 1,
      prev: head.id,
      lamport: head.lamport + 1,
      payload: { keys },
    });
    await pushEntries(r.url, epoch.key, [forged]);
    // Bob's next post follows the forged event in his chain: once it arrives, the forged one was handled.
    await bob.call('post_message', { channel: ch, body: 'after my key' });
    for (const n of [alice, carol]) {
      await collectUntil(n, ch, (all) => all.some((m) => m.body === 'after my key'));
      expect([...epochKeysOf(n.home, ch).keys()]).toEqual([0]);
      expect((await n.call('list_channels')).channels[0].epoch).toBe(0);
    }
  });
});
