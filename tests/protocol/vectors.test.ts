/**
 * Known-answer vectors: fixed keys, body and nonce → exact bytes. Any change to the wire format (canonical JSON,
 * signing context, AD layout, nonce placement, id hash, room derivation, invite encoding, owner-bound channel ids)
 * fails here.
 * Regenerate deliberately with UPDATE_VECTORS=1 only when a format version changes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { ready } from '../../protocol/sodium.js';
import { newIdentity, memberId, ownedChannelId, relayAuthParams, roomKeyPair } from '../../protocol/keys.js';
import { openEvent, sealEvent, signEvent, type EventBody } from '../../protocol/event.js';
import { encodeInvite } from '../../protocol/invite.js';
import { canonicalBytes } from '../../protocol/canonical.js';
import { toB64u, toHex } from '../../protocol/bytes.js';

const FIXTURE = new URL('./fixtures/vectors.json', import.meta.url);
const filled = (n: number, v: number) => new Uint8Array(n).fill(v);

beforeAll(ready);

function compute() {
  const author = newIdentity(filled(32, 1));
  const epochKey = filled(32, 2);
  const ch = toB64u(filled(16, 3));
  const body: EventBody = {
    v: 1,
    ch,
    ep: 0,
    type: 'message',
    author: memberId(author.publicKey),
    seq: 2,
    prev: toB64u(filled(32, 4)),
    deps: [toB64u(filled(32, 5))],
    lamport: 7,
    ts: 1_700_000_000_000,
    payload: { body: 'héllo 👋', kind: 'chat', meta: { n: 1.5 } },
  };
  const signed = signEvent(body, author.secretKey);
  const epoch = { ch, ep: 0, key: epochKey };
  const { id, sealed } = sealEvent(signed, epoch, filled(24, 6));
  const auth = relayAuthParams(epochKey, 1_700_000_000_000);
  const invite = encodeInvite({
    v: 1,
    relays: ['ws://127.0.0.1:4455'],
    ch,
    ep: 0,
    key: toB64u(epochKey),
    slot: 'invite:bob',
    slotSeed: toB64u(filled(32, 7)),
    name: 'kat',
  });
  return {
    author: memberId(author.publicKey),
    body: toHex(canonicalBytes(body)),
    signature: toHex(signed.subarray(signed.length - 64)),
    sealed: toHex(sealed),
    id,
    room: roomKeyPair(epochKey).room,
    relayAuth: auth,
    invite,
    ownedChannel: ownedChannelId(memberId(author.publicKey), toB64u(filled(16, 8))),
  };
}

describe('known-answer vectors', () => {
  it('match the committed fixture byte for byte', () => {
    const actual = compute();
    if (process.env.UPDATE_VECTORS === '1') writeFileSync(FIXTURE, JSON.stringify(actual, null, 2) + '\n');
    const expected = JSON.parse(readFileSync(FIXTURE, 'utf8'));
    expect(actual).toEqual(expected);
  });

  it('the fixture opens with the fixed key', () => {
    const expected = JSON.parse(readFileSync(FIXTURE, 'utf8'));
    const sealed = new Uint8Array(Buffer.from(expected.sealed, 'hex'));
    const r = openEvent(sealed, { ch: toB64u(filled(16, 3)), ep: 0, key: filled(32, 2) });
    expect(r.ok && r.event.id).toBe(expected.id);
  });
});
