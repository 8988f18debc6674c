/**
 * A relay that forges, flips bytes and replays entries from another room: honest nodes deliver nothing forged and
 * `verify_channel` reports each problem.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startHostileRelay, type HostileRelay } from '../helpers/hostile-relay.js';
import { collectUntil, startNode, type TestNode } from '../helpers/mcp.js';
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
  it('forged, flipped and cross-room entries are never delivered and are reported', async () => {
    const relay: HostileRelay = await startHostileRelay();
    cleanup.push(() => relay.close());
    const alice: TestNode = await startNode({ relays: [relay.url] });
    const bob: TestNode = await startNode({ relays: [relay.url] });
    cleanup.push(() => alice.close(), () => bob.close());
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
      signEvent({ v: 1, ch, ep: 0, type: 'message', author: memberId(mallory.publicKey), seq: 1, prev: null, deps: [], lamport: 1, ts: Date.now(), payload: { kind: 'chat', body: 'forged' } }, mallory.secretKey),
      { ch, ep: 0, key },
    );
    relay.inject(room, [
      [contentId(garbage), garbage],
      ['A'.repeat(43), flipped],
      [contentId(flipped), flipped],
      ...foreign,
      [forged.id, forged.sealed],
    ]);
    await alice.call('post_message', { channel: ch, body: 'after the attack' });
    const seen = await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'after the attack'));
    expect(seen.some((m) => m.body === 'forged')).toBe(false);
    for (const n of [alice, bob]) {
      const v = await n.call('verify_channel', { channel: ch });
      expect(v.ok).toBe(false);
      const text = v.problems.join('\n');
      expect(text).toMatch(/not the hash of its value/);
      expect(text).toMatch(/decrypt/);
      expect(text).toMatch(/non-member/);
      const sync = await n.call('sync_messages', { channel: ch, cursor: '0', limit: 500 });
      expect(sync.messages.every((m: any) => m.body !== 'forged')).toBe(true);
    }
  });
});
