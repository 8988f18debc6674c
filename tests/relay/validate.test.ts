import { captureUpdate } from '../helpers/doc.js';
import { beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { randomBytes } from 'node:crypto';
import { ready } from '../../protocol/sodium.js';
import { contentId } from '../../protocol/hash.js';
import { encodeEntries, validateUpdate, type RoomView, type Verdict } from '../../protocol/log-update.js';

beforeAll(ready);

const value = (n = 300) => new Uint8Array(randomBytes(n));

/** A server doc and the view the validator gets of it. */
function server(): { doc: Y.Doc; view: RoomView } {
  const doc = new Y.Doc();
  return { doc, view: { clock: (c) => Y.getState(doc.store, c), hasKey: (k) => doc.getMap('log').has(k) } };
}

/** The verdict with entries counted, for compact assertions. */
function summary(v: Verdict) {
  return v.ok ? { ok: true, entries: v.entries.length, duplicates: v.duplicates, gap: v.gap } : v;
}

describe('validateUpdate', () => {
  it('accepts new entries keyed by their hash, and counts duplicates', () => {
    const { doc, view } = server();
    const client = new Y.Doc();
    const v = value();
    const u = captureUpdate(client, () => client.getMap('log').set(contentId(v), v));
    expect(summary(validateUpdate(u, view, 65536))).toEqual({ ok: true, entries: 1, duplicates: 0, gap: false });
    Y.applyUpdate(doc, u);
    expect(summary(validateUpdate(u, view, 65536))).toEqual({ ok: true, entries: 0, duplicates: 1, gap: false });
  });

  it('reports a gap instead of refusing', () => {
    const { view } = server();
    const client = new Y.Doc();
    const [a, b] = [value(), value()];
    client.getMap('log').set(contentId(a), a);
    const second = captureUpdate(client, () => client.getMap('log').set(contentId(b), b));
    expect(summary(validateUpdate(second, view, 65536))).toEqual({ ok: true, entries: 0, duplicates: 0, gap: true });
  });

  const refusals: [string, (c: Y.Doc, s: Y.Doc) => Uint8Array][] = [
    [
      'delete-set',
      (c, s) => {
        const v = value();
        const first = captureUpdate(c, () => c.getMap('log').set(contentId(v), v));
        Y.applyUpdate(s, first);
        return captureUpdate(c, () => c.getMap('log').delete(contentId(v)));
      },
    ],
    ['not-log', (c) => captureUpdate(c, () => c.getMap('other').set(contentId(value()), value()))],
    ['bad-key', (c) => captureUpdate(c, () => c.getMap('log').set('short', value()))],
    ['not-binary', (c) => captureUpdate(c, () => c.getMap('log').set('a'.repeat(43), 'text'))],
    ['bad-key', (c) => captureUpdate(c, () => c.getMap('log').set(contentId(value()), value()))],
    [
      'oversize',
      (c) => {
        const v = value(70_000);
        return captureUpdate(c, () => c.getMap('log').set(contentId(v), v));
      },
    ],
    [
      'overwrite',
      (c, s) => {
        const v = value();
        const other = new Y.Doc();
        Y.applyUpdate(
          s,
          captureUpdate(other, () => other.getMap('log').set(contentId(v), v)),
        );
        return captureUpdate(c, () => c.getMap('log').set(contentId(v), v));
      },
    ],
    ['undecodable', () => Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x01)],
  ];

  it.each(refusals)('refuses %s', (reason, make) => {
    const { doc, view } = server();
    const update = make(new Y.Doc(), doc);
    expect(validateUpdate(update, view, 65536)).toEqual({ ok: false, reason });
  });

  it('re-encodes accepted entries as an update a stock Y.Doc applies to the same map', () => {
    const client = new Y.Doc();
    const values = [value(), value(), value()];
    const u = captureUpdate(client, () =>
      client.transact(() => {
        for (const v of values) client.getMap('log').set(contentId(v), v);
      }),
    );
    const verdict = validateUpdate(u, server().view, 65536);
    if (!verdict.ok) throw new Error(verdict.reason);
    const copy = new Y.Doc();
    Y.applyUpdate(copy, encodeEntries(verdict.entries));
    expect([...copy.getMap('log').keys()].sort()).toEqual(values.map((v) => contentId(v)).sort());
    expect(Y.encodeStateVector(copy)).toEqual(Y.encodeStateVector(client));
  });
});
