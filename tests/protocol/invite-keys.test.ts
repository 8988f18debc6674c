import { beforeAll, describe, expect, it } from 'vitest';
import { ready } from '../../protocol/sodium.js';
import { decodeInvite, encodeInvite, InviteError, type Invite } from '../../protocol/invite.js';
import {
  checkRelayAuth,
  memberId,
  randomChannelId,
  newEpochKey,
  newIdentity,
  openFromMember,
  relayAuthParams,
  roomKeyPair,
  sealToMember,
} from '../../protocol/keys.js';
import { toB64u } from '../../protocol/bytes.js';

beforeAll(ready);

function invite(): Invite {
  return {
    v: 1,
    relays: ['ws://127.0.0.1:4455'],
    ch: randomChannelId(),
    ep: 0,
    key: toB64u(newEpochKey()),
    slot: 'invite:bob',
    slotSeed: toB64u(newEpochKey()),
    name: 'game night',
  };
}

describe('invite codes', () => {
  it('round-trips', () => {
    const inv = invite();
    const code = encodeInvite(inv);
    expect(code.startsWith('parley:')).toBe(true);
    expect(decodeInvite(`  ${code}\n`)).toEqual(inv);
  });

  it('gives a clear InviteError for garbage, truncation and tampering', () => {
    const code = encodeInvite(invite());
    const cases: unknown[] = [
      42,
      '',
      'hello',
      'parley:',
      'parley:!!!',
      code.slice(0, -5),
      code.slice(0, 40),
      'parley:' + 'A'.repeat(9000),
    ];
    for (let i = 'parley:'.length; i < code.length; i += 7) {
      const c = code[i] === 'A' ? 'B' : 'A';
      cases.push(code.slice(0, i) + c + code.slice(i + 1));
    }
    for (const bad of cases) {
      let error: unknown;
      try {
        decodeInvite(bad);
      } catch (e) {
        error = e;
      }
      expect(error, String(bad).slice(0, 60)).toBeInstanceOf(InviteError);
      expect((error as Error).message).toMatch(/^(The|This) .*\.$/);
    }
  });
});

describe('keys and relay auth', () => {
  it('derives the same room from the same epoch key and signs fresh auth', () => {
    const key = newEpochKey();
    expect(roomKeyPair(key).room).toBe(roomKeyPair(key).room);
    expect(roomKeyPair(key).room).not.toBe(roomKeyPair(newEpochKey()).room);
    const now = 1_700_000_000_000;
    const p = relayAuthParams(key, now);
    expect(checkRelayAuth(p.room, p.ts, p.sig, now)).toEqual({ ok: true });
    expect(checkRelayAuth(p.room, p.ts, p.sig, now + 6 * 60_000)).toEqual({ ok: false, reason: 'stale' });
    expect(checkRelayAuth(p.room, p.ts, p.sig, now + 4 * 60_000)).toEqual({ ok: true });
    // Signed 2 minutes ahead of the relay's clock: more than the future skew allows, though within the window.
    expect(checkRelayAuth(p.room, p.ts, p.sig, now - 2 * 60_000)).toEqual({ ok: false, reason: 'stale' });
    expect(checkRelayAuth(p.room, p.ts, p.sig, now - 20_000)).toEqual({ ok: true });
    expect(checkRelayAuth(p.room, null, p.sig, now)).toEqual({ ok: false, reason: 'missing' });
    expect(checkRelayAuth(roomKeyPair(newEpochKey()).room, p.ts, p.sig, now)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(checkRelayAuth('not-a-room', p.ts, p.sig, now)).toEqual({ ok: false, reason: 'bad-room' });
    expect(checkRelayAuth(p.room, '1e12', p.sig, now)).toEqual({ ok: false, reason: 'stale' });
  });

  it('wraps an epoch key to a member and only that member opens it', () => {
    const alice = newIdentity();
    const eve = newIdentity();
    const key = newEpochKey();
    const sealed = sealToMember(key, alice.publicKey);
    expect(openFromMember(sealed, alice)).toEqual(key);
    expect(openFromMember(sealed, eve)).toBeNull();
    expect(memberId(alice.publicKey)).toHaveLength(43);
  });
});
