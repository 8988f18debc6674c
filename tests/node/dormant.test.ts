/**
 * A dormant channel's rooms (node/dormant.ts) against a stand-in connection: they stay asleep only when the relay
 * shows that nothing changed both ways, and wake for anything else; and the store's dormant record holds only while
 * no newer document row of the channel exists.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import { Awareness, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness';
import { afterEach, describe, expect, it } from 'vitest';
import { DormantLink, carriesPresence, covers, updateAddsTo } from '../../node/dormant.js';
import type { RelayConnection } from '../../node/relay-connection.js';
import { LocalStore } from '../../node/store.js';
import { ready } from '../../protocol/sodium.js';
import { encodeEntries } from '../../protocol/log-update.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A document with `n` log entries under one client, and its state vector. */
function docWith(n: number, client = 7): { doc: Y.Doc; sv: Uint8Array } {
  const doc = new Y.Doc();
  doc.clientID = client;
  for (let i = 0; i < n; i++) doc.getMap('log').set(`e${i}`, new Uint8Array([i]));
  return { doc, sv: Y.encodeStateVector(doc) };
}

function message(type: number, ...parts: (number | Uint8Array)[]): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, type);
  for (const p of parts) {
    if (typeof p === 'number') encoding.writeVarUint(e, p);
    else encoding.writeVarUint8Array(e, p);
  }
  return encoding.toUint8Array(e);
}

/** A dormant link on a stand-in connection: what it sent, and whether (and why) it woke. */
async function dormantLink(sv: Uint8Array) {
  await ready();
  const sent: Uint8Array[] = [];
  const connection = {
    url: 'ws://relay.test',
    connected: true,
    attach: () => undefined,
    detach: () => undefined,
    reopen: () => undefined,
    send: (_room: unknown, m: Uint8Array) => sent.push(m) > 0,
  } as unknown as RelayConnection;
  const woke: string[] = [];
  const link = new DormantLink(connection, new Uint8Array(32).fill(1), sv, (why) => woke.push(why));
  link.opened();
  return { link, sent, woke };
}

describe('what a dormant room reads', () => {
  it('an update adds to a document only past its clocks, or with a deletion', () => {
    const { doc, sv } = docWith(3);
    const ours = Y.decodeStateVector(sv);
    expect(updateAddsTo(Y.encodeStateAsUpdate(doc, sv), ours)).toBe(false);
    expect(updateAddsTo(Y.encodeStateAsUpdate(doc), ours)).toBe(false);
    doc.getMap('log').set('e3', new Uint8Array([3]));
    expect(updateAddsTo(Y.encodeStateAsUpdate(doc, sv), ours)).toBe(true);
    const other = docWith(1, 9).doc;
    expect(updateAddsTo(Y.encodeStateAsUpdate(other), ours)).toBe(true);
    // An overwrite (a deletion of an item we have) adds something even when its new item is known.
    const { doc: d2, sv: sv2 } = docWith(2);
    d2.getMap('log').set('e0', new Uint8Array([9]));
    const withDelete = Y.encodeStateAsUpdate(d2);
    expect(updateAddsTo(withDelete, Y.decodeStateVector(Y.encodeStateVector(d2)))).toBe(true);
    expect(updateAddsTo(withDelete, Y.decodeStateVector(sv2))).toBe(true);
  });

  it('covers: the relay holds every item we do', () => {
    expect(covers(new Map([[7, 3]]), new Map([[7, 3]]))).toBe(true);
    expect(
      covers(
        new Map([
          [7, 4],
          [9, 1],
        ]),
        new Map([[7, 3]]),
      ),
    ).toBe(true);
    expect(covers(new Map([[7, 2]]), new Map([[7, 3]]))).toBe(false);
    expect(covers(new Map(), new Map([[7, 1]]))).toBe(false);
  });

  it('an awareness update carries presence unless it only removes states', () => {
    const doc = new Y.Doc();
    const awareness = new Awareness(doc);
    awareness.setLocalState({ p: 'sealed presence' });
    expect(carriesPresence(encodeAwarenessUpdate(awareness, [doc.clientID]))).toBe(true);
    removeAwarenessStates(awareness, [doc.clientID], null);
    expect(carriesPresence(encodeAwarenessUpdate(awareness, [doc.clientID]))).toBe(false);
    awareness.destroy();
  });
});

describe('a dormant room', () => {
  it('sends its state vector, answers a relay holding all with an empty update, syncs on nothing new', async () => {
    const { doc, sv } = docWith(3);
    const { link, sent, woke } = await dormantLink(sv);
    expect(sent[0]).toEqual(message(0, 0, sv));
    link.receive(message(0, 0, Y.encodeStateVector(doc)));
    expect(sent[1]).toEqual(message(0, 1, encodeEntries([])));
    expect(link.synced).toBe(false);
    link.receive(message(0, 1, Y.encodeStateAsUpdate(doc, sv)));
    expect(link.synced).toBe(true);
    // A peer leaving (a removal) and an update of items we have are nothing new either.
    const awareness = new Awareness(new Y.Doc());
    removeAwarenessStates(awareness, [awareness.clientID], null);
    link.receive(message(1, encodeAwarenessUpdate(awareness, [awareness.clientID])));
    link.receive(message(0, 2, Y.encodeStateAsUpdate(doc)));
    expect(woke).toEqual([]);
  });

  it('wakes for new events, a relay lacking ours, a peer, or a message it cannot read', async () => {
    const { doc, sv } = docWith(3);
    const relayBehind = docWith(2).sv;
    doc.getMap('log').set('new', new Uint8Array([1]));
    const peer = new Awareness(new Y.Doc());
    peer.setLocalState({ p: 'sealed presence' });
    const cases: [string, Uint8Array][] = [
      ['new events', message(0, 2, Y.encodeStateAsUpdate(doc, sv))],
      ['new events', message(0, 1, Y.encodeStateAsUpdate(doc, sv))],
      ['the relay lacks events of ours', message(0, 0, relayBehind)],
      ['a peer is present', message(1, encodeAwarenessUpdate(peer, [peer.clientID]))],
      ['an unreadable message', message(0, 2, new Uint8Array([1, 2, 3]))],
      ['an unreadable message', new Uint8Array([0])],
      ['an unknown message', message(0, 9, new Uint8Array(0))],
    ];
    for (const [why, m] of cases) {
      const { link, woke } = await dormantLink(sv);
      link.receive(m);
      expect(woke).toEqual([why]);
      expect(link.synced).toBe(false);
    }
    peer.destroy();
  });
});

describe('the dormant record', () => {
  it('holds until a newer document row of the channel is stored', () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-dormant-'));
    dirs.push(dir);
    const store = new LocalStore(dir, { checkpointWorker: false });
    store.addDocUpdate('a', 0, 'w', new Uint8Array([0, 0]));
    store.addDocUpdate('b', 0, 'w', new Uint8Array([0, 0]));
    const epochs = [
      { ep: 0, sv: new Uint8Array([1, 7, 3]) },
      { ep: 1, sv: new Uint8Array([0]) },
    ];
    store.saveDormant('a', epochs);
    store.saveDormant('b', epochs.slice(0, 1));
    expect(store.dormantChannels()).toEqual(
      new Map([
        ['a', epochs],
        ['b', epochs.slice(0, 1)],
      ]),
    );
    // Another channel's row leaves it be; a row of its own (a post from another process, a sync) ends it.
    store.addDocUpdate('b', 0, 'w', new Uint8Array([0, 0]));
    expect([...store.dormantChannels().keys()]).toEqual(['a']);
    store.saveDormant('b', epochs);
    expect([...store.dormantChannels().keys()].sort()).toEqual(['a', 'b']);
    // Their keys come in one query at start-up, per channel and epoch.
    store.saveEpochKey('a', 0, new Uint8Array(32).fill(1));
    store.saveEpochKey('a', 1, new Uint8Array(32).fill(2));
    store.saveEpochKey('b', 0, new Uint8Array(32).fill(3));
    const keys = store.allEpochKeys();
    expect([...keys.get('a')!.keys()].sort()).toEqual([0, 1]);
    expect(keys.get('a')!.get(1)).toEqual(new Uint8Array(32).fill(2));
    expect(keys.get('b')!.get(0)).toEqual(new Uint8Array(32).fill(3));
    store.close();
  });
});
