/**
 * The node's check of relay updates (node/relay-guard.ts), against a real Y.Doc as the node's replica: what a
 * hostile relay could send to poison it is refused without touching the doc; duplicates and gaps are not attacks.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { randomBytes } from 'node:crypto';
import { captureUpdate } from '../helpers/doc.js';
import { ready } from '../../protocol/sodium.js';
import { contentId } from '../../protocol/hash.js';
import { encodeEntries } from '../../protocol/log-update.js';
import { checkRelayUpdate, docView } from '../../node/relay-guard.js';

beforeAll(ready);

const value = (n = 300) => new Uint8Array(randomBytes(n));

/** Alice's replica with two of her own entries, and a peer that has synced it. */
function setup() {
  const alice = new Y.Doc();
  const log = alice.getMap<Uint8Array>('log');
  const [a, b] = [value(), value()];
  log.set(contentId(a), a);
  log.set(contentId(b), b);
  const peer = new Y.Doc();
  Y.applyUpdate(peer, Y.encodeStateAsUpdate(alice));
  const view = docView(alice, log);
  const state = () => Y.encodeStateAsUpdate(alice);
  return { alice, log, peer, view, state, keys: [contentId(a), contentId(b)], values: [a, b] };
}

describe('checkRelayUpdate', () => {
  it('accepts new log entries and hands back exactly those, re-encoded', () => {
    const { alice, log, peer, view } = setup();
    const v = value();
    const u = captureUpdate(peer, () => peer.getMap('log').set(contentId(v), v));
    const check = checkRelayUpdate(u, view);
    expect(check).toMatchObject({ ok: true, gap: false });
    Y.applyUpdate(alice, (check as { apply: Uint8Array }).apply);
    expect(log.get(contentId(v))).toEqual(v);
    expect(Y.encodeStateVector(alice)).toEqual(Y.encodeStateVector(peer));
  });

  it('treats items the node already has as duplicates, not as an attack', () => {
    const { view, state } = setup();
    expect(checkRelayUpdate(state(), view)).toEqual({ ok: true, apply: null, gap: false });
  });

  it("refuses a delete set removing one of the node's own entries (10 bytes, no structs)", () => {
    const { peer, view, state, keys } = setup();
    const before = state();
    const u = captureUpdate(peer, () => peer.getMap('log').delete(keys[0]));
    expect(u.length).toBeLessThanOrEqual(12);
    expect(checkRelayUpdate(u, view)).toEqual({ ok: false, reason: 'delete-set' });
    expect(state()).toEqual(before);
  });

  it('refuses an overwrite of an existing key, as Yjs writes it (origin set) and as a fresh item', () => {
    const { peer, view, keys, values } = setup();
    const u = captureUpdate(peer, () => peer.getMap('log').set(keys[0], value()));
    expect(checkRelayUpdate(u, view)).toEqual({ ok: false, reason: 'not-log' });
    // Same key and value under another Yjs client: a valid-looking new item that Yjs would let win the key.
    const fresh = encodeEntries([{ client: 0xfffffff, clock: 0, key: keys[1], value: values[1] }]);
    expect(checkRelayUpdate(fresh, view)).toEqual({ ok: false, reason: 'overwrite' });
  });

  it('refuses other root types, non-binary values, wrong keys and garbage', () => {
    const { alice, view } = setup();
    /** An update from a fresh peer that has synced Alice's replica. */
    const from = (change: (peer: Y.Doc) => void) => {
      const peer = new Y.Doc();
      Y.applyUpdate(peer, Y.encodeStateAsUpdate(alice));
      return captureUpdate(peer, () => change(peer));
    };
    const v = value();
    expect(
      checkRelayUpdate(
        from((p) => p.getText('t').insert(0, 'x')),
        view,
      ),
    ).toMatchObject({ ok: false });
    expect(
      checkRelayUpdate(
        from((p) => p.getMap('other').set(contentId(v), v)),
        view,
      ),
    ).toEqual({ ok: false, reason: 'not-log' });
    expect(
      checkRelayUpdate(
        from((p) => p.getMap('log').set(contentId(v), 'text')),
        view,
      ),
    ).toEqual({ ok: false, reason: 'not-binary' });
    expect(
      checkRelayUpdate(
        from((p) => p.getMap('log').set(contentId(value()), value())),
        view,
      ),
    ).toEqual({ ok: false, reason: 'bad-key' });
    expect(checkRelayUpdate(new Uint8Array([5, 1, 2]), view)).toEqual({ ok: false, reason: 'undecodable' });
  });

  it('drops an update with any bad part whole', () => {
    const { peer, view, keys } = setup();
    const v = value();
    const u = captureUpdate(peer, () =>
      peer.transact(() => {
        peer.getMap('log').set(contentId(v), v);
        peer.getMap('log').delete(keys[0]);
      }),
    );
    expect(checkRelayUpdate(u, view)).toEqual({ ok: false, reason: 'delete-set' });
  });

  it('applies the entries before a clock gap and drops those after it (the caller asks for what is missing)', () => {
    const { alice, log, peer, view } = setup();
    const [x, y, z] = [value(), value(), value()];
    const other = new Y.Doc();
    Y.applyUpdate(other, Y.encodeStateAsUpdate(peer));
    captureUpdate(other, () => other.getMap('log').set(contentId(x), x));
    const missed = captureUpdate(other, () => other.getMap('log').set(contentId(y), y));
    const after = captureUpdate(other, () => other.getMap('log').set(contentId(z), z));
    // The relay forwards y and z, but the node never got x: y and z are past a gap.
    const check = checkRelayUpdate(Y.mergeUpdates([missed, after]), view);
    expect(check).toEqual({ ok: true, apply: null, gap: true });
    expect(log.size).toBe(2);
    // After the sync step 1 it asks for, the whole range comes and applies cleanly (no pending structs).
    const filled = checkRelayUpdate(Y.encodeStateAsUpdate(other, Y.encodeStateVector(alice)), view);
    expect(filled).toMatchObject({ ok: true, gap: false });
    Y.applyUpdate(alice, (filled as { apply: Uint8Array }).apply);
    expect([...log.keys()].sort()).toEqual([...other.getMap('log').keys()].sort());
    expect(alice.store.pendingStructs).toBeNull();
  });
});
