import { beforeAll, describe, expect, it } from 'vitest';
import { ready } from '../../protocol/sodium.js';
import { newEpochKey, newIdentity, memberId, randomChannelId } from '../../protocol/keys.js';
import { openEvent, sealEvent, signEvent, type EventBody, compareEvents, nextLamport } from '../../protocol/event.js';

beforeAll(ready);

function fixture() {
  const id = newIdentity();
  const ch = randomChannelId();
  const epoch = { ch, ep: 0, key: newEpochKey() };
  const body: EventBody = {
    v: 1,
    ch,
    ep: 0,
    type: 'message',
    author: memberId(id.publicKey),
    seq: 1,
    prev: null,
    deps: [],
    lamport: 1,
    ts: 1_700_000_000_000,
    payload: { kind: 'chat', body: 'hello' },
  };
  return { id, epoch, body };
}

describe('events', () => {
  it('round-trips seal and open', () => {
    const { id, epoch, body } = fixture();
    const { id: eventId, sealed } = sealEvent(signEvent(body, id.secretKey), epoch);
    const opened = openEvent(sealed, epoch);
    expect(opened.ok).toBe(true);
    if (!opened.ok) return;
    expect(opened.event.id).toBe(eventId);
    expect(opened.event.body).toEqual(body);
  });

  it('rejects every single tampered byte', () => {
    const { id, epoch, body } = fixture();
    const { sealed } = sealEvent(signEvent(body, id.secretKey), epoch);
    for (let i = 0; i < sealed.length; i++) {
      const copy = sealed.slice();
      copy[i] ^= 0x01;
      const r = openEvent(copy, epoch);
      expect(r.ok, `byte ${i}`).toBe(false);
    }
    expect(openEvent(sealed.subarray(0, sealed.length - 1), epoch).ok).toBe(false);
  });

  it('rejects the wrong epoch key, channel and epoch number', () => {
    const { id, epoch, body } = fixture();
    const { sealed } = sealEvent(signEvent(body, id.secretKey), epoch);
    expect(openEvent(sealed, { ...epoch, key: newEpochKey() })).toMatchObject({ ok: false, reason: 'decrypt' });
    expect(openEvent(sealed, { ...epoch, ep: 1 })).toMatchObject({ ok: false, reason: 'decrypt' });
    expect(openEvent(sealed, { ...epoch, ch: randomChannelId() })).toMatchObject({ ok: false, reason: 'decrypt' });
  });

  it('rejects a body signed by someone other than its author', () => {
    const { epoch, body } = fixture();
    const mallory = newIdentity();
    const { sealed } = sealEvent(signEvent(body, mallory.secretKey), epoch);
    expect(openEvent(sealed, epoch)).toMatchObject({ ok: false, reason: 'bad-signature' });
    expect(openEvent(sealed, epoch, { verifySignature: false }).ok).toBe(true);
  });

  it('refuses to sign a body that breaks the schema', () => {
    const { id, body } = fixture();
    expect(() => signEvent({ ...body, seq: 2, prev: null }, id.secretKey)).toThrow();
    expect(() => signEvent({ ...body, deps: ['b', 'a'] } as EventBody, id.secretKey)).toThrow();
  });

  it('orders by (lamport, id) and computes lamport from deps', () => {
    const lamports = new Map([
      ['a', 3],
      ['b', 7],
      ['c', 2],
    ]);
    const of = (id: string) => lamports.get(id);
    expect(nextLamport([], null, of)).toBe(1);
    expect(nextLamport(['a', 'b'], 'c', of)).toBe(8);
    expect(nextLamport(['a', 'unknown'], 'b', of)).toBe(8);
    const sorted = [
      { lamport: 2, id: 'a' },
      { lamport: 1, id: 'z' },
      { lamport: 2, id: 'B' },
    ].sort(compareEvents);
    expect(sorted.map((e) => e.id)).toEqual(['z', 'B', 'a']);
  });
});
