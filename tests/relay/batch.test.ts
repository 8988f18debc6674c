/**
 * Batches (relay/room.ts): the updates a room receives in one event-loop turn are validated one after the other
 * against the room as the earlier ones left it, stored in one append (one transaction), and forwarded as one merged
 * update per connection, only after the commit. Run against both stores: SQLite in a temp dir and PostgreSQL in a
 * cluster this file starts. The room is driven directly with recording peers, so "one turn" is exact.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ready } from '../../protocol/sodium.js';
import { encodeEntries, parseLogUpdate, type LogEntry } from '../../protocol/log-update.js';
import { RelayMetrics } from '../../relay/metrics.js';
import { relayOptions } from '../../relay/options.js';
import {
  MESSAGE_SYNC,
  Room,
  SYNC_STEP1,
  SYNC_STEP2,
  SYNC_UPDATE,
  syncMessage,
  type MessageRefusal,
  type Peer,
} from '../../relay/room.js';
import { openStore, parseStoreSpec, StoreUnavailableError, type RelayStore } from '../../relay/store.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { randomEntry } from '../helpers/room-client.js';

let pg: TestPostgres;
beforeAll(async () => {
  await ready();
  pg = await startPostgres({ fsync: false });
}, 60_000);
afterAll(() => pg?.stop());

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

type Kind = 'sqlite' | 'postgres';

async function open(kind: Kind): Promise<RelayStore> {
  let store: RelayStore;
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'parley-batch-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    store = await openStore(parseStoreSpec('', dir));
  } else {
    store = await openStore(parseStoreSpec(await pg.createDatabase(), '/nonexistent'));
  }
  cleanup.push(() => store.close());
  return store;
}

/** A connection that records what the room sends it, and when (in `events`, shared with the store spy). */
interface TestPeer extends Peer {
  name: string;
  sent: Uint8Array[];
  refusals: string[];
}

function testPeer(name: string, events: string[] = []): TestPeer {
  let refused = false;
  const peer: TestPeer = {
    name,
    sent: [],
    refusals: [],
    get refused() {
      return refused;
    },
    send(message) {
      if (refused) return;
      events.push(`send ${name}`);
      peer.sent.push(message);
    },
    stream(message, sent) {
      if (refused) return false;
      peer.sent.push(message);
      queueMicrotask(sent);
      return true;
    },
    take: () => true,
    refuse(reason: MessageRefusal) {
      if (!refused) peer.refusals.push(reason);
      refused = true;
    },
    unavailable() {
      if (!refused) peer.refusals.push('unavailable');
      refused = true;
    },
  };
  return peer;
}

const newEntry = (client: number, clock: number): LogEntry => {
  const [key, value] = randomEntry();
  return { client, clock, key, value };
};
const update = (...entries: LogEntry[]) => syncMessage(SYNC_UPDATE, encodeEntries(entries));
const roomName = () => randomBytes(32).toString('base64url').slice(0, 43);

/** Keys of the entries in each sync update / step 2 message a peer was sent (other messages are left out). */
function receivedKeys(peer: TestPeer): string[][] {
  const out: string[][] = [];
  for (const m of peer.sent) {
    const d = decoding.createDecoder(m);
    if (decoding.readVarUint(d) !== MESSAGE_SYNC) continue;
    const step = decoding.readVarUint(d);
    if (step === SYNC_STEP1) continue;
    const parsed = parseLogUpdate(decoding.readVarUint8Array(d));
    if (!parsed.ok) throw new Error(`peer ${peer.name} was sent an update the validator refuses: ${parsed.reason}`);
    out.push(parsed.items.flatMap((i) => ('key' in i ? [i.key] : [])).sort());
  }
  return out;
}
const sorted = (...entries: LogEntry[]) => entries.map((e) => e.key).sort();

/** A room on `store` with the given peers joined and their greetings cleared. */
async function roomWith(store: RelayStore, names: string[], events: string[] = []) {
  const metrics = new RelayMetrics();
  const room = new Room(roomName(), store, metrics, relayOptions({ dataDir: '/nonexistent' }), { bytes: 0 });
  const peers = names.map((n) => testPeer(n, events));
  for (const p of peers) room.join(p);
  await room.idle();
  for (const p of peers) p.sent.length = 0;
  events.length = 0;
  return { room, metrics, peers };
}

describe.each<Kind>(['sqlite', 'postgres'])('batches on the %s store', (kind) => {
  it(
    'updates from several peers in one turn: one transaction, then one merged message per peer without ' +
      'its own entries',
    async () => {
      const store = await open(kind);
      const { room, metrics, peers } = await roomWith(store, ['a', 'b', 'c']);
      const [a, b, c] = peers;
      const a0 = newEntry(11, 0);
      const a1 = newEntry(11, 1);
      const b0 = newEntry(22, 0);
      const before = store.appends;
      room.receive(a, update(a0));
      room.receive(a, update(a1));
      room.receive(b, update(b0));
      await room.idle();

      expect(store.appends - before).toBe(1);
      expect(receivedKeys(a)).toEqual([sorted(b0)]);
      expect(receivedKeys(b)).toEqual([sorted(a0, a1)]);
      expect(receivedKeys(c)).toEqual([sorted(a0, a1, b0)]);
      expect(a.sent).toHaveLength(1);
      expect(c.sent).toHaveLength(1);
      expect(metrics.updatesAccepted).toBe(3);
      expect(metrics.entriesStored).toBe(3);
      expect(metrics.appendLatency.count).toBe(1);
      expect((await store.load(room.name)).entries.map((e) => e.key).sort()).toEqual(sorted(a0, a1, b0));
      expect(room.size).toBe(3);
    },
  );

  it('a bad update in a batch refuses only its sender; the others are stored and forwarded', async () => {
    const store = await open(kind);
    const { room, peers } = await roomWith(store, ['a', 'b', 'c', 'd']);
    const [a, b, c, d] = peers;
    const a0 = newEntry(1, 0);
    const c0 = newEntry(3, 0);
    const forged = { ...newEntry(2, 0), key: newEntry(2, 0).key }; // a key that is not the value's content id
    const before = store.appends;
    room.receive(a, update(a0));
    room.receive(b, update(forged));
    room.receive(c, update(c0));
    room.receive(b, update(newEntry(2, 0))); // after its refusal: dropped
    await room.idle();

    expect(b.refusals).toEqual(['bad-key']);
    expect(a.refusals).toEqual([]);
    expect(c.refusals).toEqual([]);
    expect(store.appends - before).toBe(1);
    expect((await store.load(room.name)).entries.map((e) => e.key).sort()).toEqual(sorted(a0, c0));
    expect(receivedKeys(a)).toEqual([sorted(c0)]);
    expect(receivedKeys(c)).toEqual([sorted(a0)]);
    expect(receivedKeys(d)).toEqual([sorted(a0, c0)]);
    expect(b.sent).toEqual([]);
  });

  it('each update is checked against the room as the earlier ones of the batch left it', async () => {
    const store = await open(kind);
    const { room, peers } = await roomWith(store, ['a', 'b', 'c']);
    const [a, b, c] = peers;
    // One Yjs client's entries arriving over two connections (a node forwarding another's writes): b resends x0
    // (a duplicate of what a staged) and continues with x1; c then sends x0's entry under another Yjs id.
    const x0 = newEntry(5, 0);
    const x1 = newEntry(5, 1);
    room.receive(a, update(x0));
    room.receive(b, update(x0, x1));
    room.receive(c, update({ ...x0, client: 6, clock: 0 }));
    await room.idle();

    expect(a.refusals).toEqual([]);
    expect(b.refusals).toEqual([]);
    expect(c.refusals).toEqual(['overwrite']);
    const stored = (await store.load(room.name)).entries;
    expect(stored.map((e) => [e.client, e.clock, e.key])).toEqual([
      [5, 0, x0.key],
      [5, 1, x1.key],
    ]);
    expect(receivedKeys(a)).toEqual([sorted(x1)]);
    expect(receivedKeys(b)).toEqual([sorted(x0)]);
  });

  it(
    'nothing is forwarded before the commit; a message other than an update sees the batch ' + 'before it committed',
    async () => {
      const events: string[] = [];
      const inner = await open(kind);
      const spy = new Proxy(inner, {
        get(target, prop, receiver) {
          if (prop !== 'append') return Reflect.get(target, prop, receiver);
          return async (...args: Parameters<RelayStore['append']>) => {
            events.push(`append ${args[1].length}`);
            const result = await target.append(...args);
            events.push('committed');
            return result;
          };
        },
      });
      const { room, peers } = await roomWith(spy, ['a', 'b', 'c'], events);
      const [a, b, c] = peers;
      const a0 = newEntry(1, 0);
      const b0 = newEntry(2, 0);
      const b1 = newEntry(2, 1);
      const sv = encoding.createEncoder();
      encoding.writeVarUint(sv, 0);
      room.receive(a, update(a0));
      room.receive(b, update(b0));
      room.receive(c, syncMessage(SYNC_STEP1, encoding.toUint8Array(sv)));
      room.receive(b, update(b1));
      await room.idle();

      // Two appends: the updates before the step 1, then the one after it; every send after its commit.
      expect(events.filter((e) => e.startsWith('append'))).toEqual(['append 2', 'append 1']);
      const firstCommit = events.indexOf('committed');
      expect(events.findIndex((e) => e.startsWith('send'))).toBeGreaterThan(firstCommit);
      const secondAppend = events.lastIndexOf('append 1');
      expect(events.slice(secondAppend).filter((e) => e.startsWith('send')).length).toBeGreaterThan(0);
      expect(events.slice(secondAppend).findIndex((e) => e.startsWith('send'))).toBeGreaterThan(
        events.slice(secondAppend).indexOf('committed'),
      );
      // c: the merged update of a0 and b0, its answer (step 2) holding both, then b1.
      const cMessages = c.sent
        .map((m) => decoding.createDecoder(m))
        .map((d) => [decoding.readVarUint(d), decoding.readVarUint(d)]);
      expect(cMessages).toEqual([
        [MESSAGE_SYNC, SYNC_UPDATE],
        [MESSAGE_SYNC, SYNC_STEP2],
        [MESSAGE_SYNC, SYNC_UPDATE],
      ]);
      expect(receivedKeys(c)).toEqual([sorted(a0, b0), sorted(a0, b0), sorted(b1)]);
    },
  );
});

describe('batches when the store fails', () => {
  it('store unavailable: every writer of the batch is closed with 1013 and counted once; readers stay', async () => {
    const inner = await open('sqlite');
    let down = false;
    const store = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'append' && down) return async () => Promise.reject(new StoreUnavailableError('test: down'));
        return Reflect.get(target, prop, receiver);
      },
    });
    const { room, metrics, peers } = await roomWith(store, ['a', 'b', 'c']);
    const [a, b, c] = peers;
    down = true;
    room.receive(a, update(newEntry(1, 0)));
    room.receive(a, update(newEntry(1, 1)));
    room.receive(b, update(newEntry(2, 0)));
    await room.idle();
    expect(a.refusals).toEqual(['unavailable']);
    expect(b.refusals).toEqual(['unavailable']);
    expect(c.refusals).toEqual([]);
    expect(metrics.refusedTotal('store-unavailable')).toBe(2);
    expect(room.size).toBe(0);
    expect(c.sent).toEqual([]);
  });

  it('a write error refuses every writer of the batch with its reason, and writes resume after', async () => {
    const inner = await open('sqlite');
    let full = false;
    const store = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'append' && full)
          return async () =>
            Promise.reject(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
        return Reflect.get(target, prop, receiver);
      },
    });
    const { room, metrics, peers } = await roomWith(store, ['a', 'b', 'c']);
    const [a, b, c] = peers;
    full = true;
    room.receive(a, update(newEntry(1, 0)));
    room.receive(b, update(newEntry(2, 0)));
    await room.idle();
    expect(a.refusals).toEqual(['disk-full']);
    expect(b.refusals).toEqual(['disk-full']);
    expect(metrics.writesFailing).toBe(1);
    full = false;
    const c0 = newEntry(3, 0);
    room.receive(c, update(c0));
    await room.idle();
    expect(c.refusals).toEqual([]);
    expect(metrics.writesFailing).toBe(0);
    expect((await inner.load(room.name)).entries.map((e) => e.key)).toEqual([c0.key]);
  });
});
