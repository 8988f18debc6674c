/**
 * The parts of a relay room, each on its own: the y-websocket framing (relay/wire.ts), the entries in memory
 * (relay/entries.ts), the awareness states (relay/awareness.ts) and the task queue with its batches
 * (relay/room-queue.ts). The room as a whole is tested in batch.test.ts and relay.test.ts.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../../protocol/log-update.js';
import { AWARENESS_TIMEOUT_MS, RoomAwareness } from '../../relay/awareness.js';
import { RoomEntries } from '../../relay/entries.js';
import type { Peer } from '../../relay/peer.js';
import { RoomQueue } from '../../relay/room-queue.js';
import {
  chunkEntries,
  decodeStateVector,
  MESSAGE_AWARENESS,
  SYNC_STEP1,
  SYNC_STEP2,
  SYNC_UPDATE,
  syncMessage,
  updatePayload,
} from '../../relay/wire.js';

const entry = (client: number, clock: number, bytes = 10): LogEntry => ({
  client,
  clock,
  key: `k${client}.${clock}`,
  value: new Uint8Array(bytes),
});

const peer = (): Peer => ({
  send() {},
  stream: () => true,
  take: () => true,
  refuse() {},
  unavailable() {},
  refused: false,
});

/** The (client, clock, state) triples of an awareness message. */
function awarenessStates(message: Uint8Array): [number, number, string][] {
  const d = decoding.createDecoder(message);
  expect(decoding.readVarUint(d)).toBe(MESSAGE_AWARENESS);
  const inner = decoding.createDecoder(decoding.readVarUint8Array(d));
  const n = decoding.readVarUint(inner);
  const out: [number, number, string][] = [];
  for (let i = 0; i < n; i++) {
    out.push([decoding.readVarUint(inner), decoding.readVarUint(inner), decoding.readVarString(inner)]);
  }
  return out;
}

function awarenessUpdate(states: [number, number, string][]): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, states.length);
  for (const [client, clock, state] of states) {
    encoding.writeVarUint(e, client);
    encoding.writeVarUint(e, clock);
    encoding.writeVarString(e, state);
  }
  return encoding.toUint8Array(e);
}

describe('wire', () => {
  it('carries an update in sync step 2 and update messages, and nothing in a step 1', () => {
    const update = new Uint8Array([1, 2, 3]);
    expect(updatePayload(syncMessage(SYNC_UPDATE, update))).toEqual(update);
    expect(updatePayload(syncMessage(SYNC_STEP2, update))).toEqual(update);
    expect(updatePayload(syncMessage(SYNC_STEP1, update))).toBeNull();
    expect(() => updatePayload(new Uint8Array([0, 2]))).toThrow();
  });

  it('refuses a state vector that claims more clients than it has bytes', () => {
    expect(decodeStateVector(new Uint8Array([1, 7, 3]))).toEqual(new Map([[7, 3]]));
    expect(() => decodeStateVector(new Uint8Array([9, 1]))).toThrow('bad state vector');
  });

  it('cuts entries into chunks by bytes and by count, never leaving one empty', () => {
    const entries = [entry(1, 0, 100), entry(1, 1, 100), entry(1, 2, 100), entry(1, 3, 1000)];
    const bySize = [...chunkEntries(entries, 250, 100)].map((c) => c.length);
    expect(bySize).toEqual([2, 1, 1]);
    expect([...chunkEntries(entries, 1e6, 3)].map((c) => c.length)).toEqual([3, 1]);
    expect([...chunkEntries([], 10, 10)]).toEqual([]);
  });
});

describe('entries', () => {
  it('keeps clocks consecutive per client and answers what a state vector lacks', () => {
    const entries = new RoomEntries('r');
    for (const e of [entry(1, 0), entry(1, 1), entry(2, 0)]) entries.remember(e);
    expect(() => entries.remember(entry(2, 2))).toThrow(/clock gap/);
    expect(entries.size).toBe(3);
    expect(entries.valueBytes).toBe(30);
    expect(entries.clock(1)).toBe(2);
    expect(entries.has('k2.0')).toBe(true);
    expect(decodeStateVector(entries.stateVector())).toEqual(
      new Map([
        [1, 2],
        [2, 1],
      ]),
    );
    const missing = entries.missing(new Map([[1, 1]]));
    entries.remember(entry(1, 2));
    // The ranges were taken when asked: an entry remembered later is not part of that answer.
    expect([...missing].map((e) => e.key)).toEqual(['k1.1', 'k2.0']);
    entries.reset();
    expect(entries.size).toBe(0);
  });
});

describe('awareness', () => {
  it("keeps the newer state per client and announces a departed peer's states as removed", () => {
    const awareness = new RoomAwareness(64 * 1024);
    const alice = peer();
    const bob = peer();
    expect(awareness.apply(alice, awarenessUpdate([[1, 1, '{"a":1}']]))).toBe(true);
    expect(
      awareness.apply(
        bob,
        awarenessUpdate([
          [1, 1, '{"a":2}'],
          [2, 5, '{}'],
        ]),
      ),
    ).toBe(true);
    expect([...awareness.messages()].flatMap(awarenessStates)).toEqual([
      [1, 1, '{"a":1}'],
      [2, 5, '{}'],
    ]);
    expect(awareness.release(alice).flatMap(awarenessStates)).toEqual([[1, 2, 'null']]);
    expect([...awareness.messages()].flatMap(awarenessStates)).toEqual([[2, 5, '{}']]);
    expect(awareness.apply(bob, new Uint8Array([5]))).toBe(false);
  });

  it('splits its states into messages of bounded size, and expires the ones not renewed', () => {
    const awareness = new RoomAwareness(100);
    const state = JSON.stringify({ pad: 'x'.repeat(60) });
    awareness.apply(
      peer(),
      awarenessUpdate([
        [1, 1, state],
        [2, 1, state],
        [3, 1, state],
      ]),
    );
    expect([...awareness.messages()].map((m) => awarenessStates(m).length)).toEqual([1, 1, 1]);
    awareness.expire(Date.now() + AWARENESS_TIMEOUT_MS + 1);
    expect([...awareness.messages()]).toEqual([]);
  });
});

describe('room queue', () => {
  it("runs tasks one at a time, gathers one turn's items into one batch, and goes on after a failure", async () => {
    const failures: unknown[] = [];
    const queue = new RoomQueue<number>((err) => failures.push(err));
    const runs: number[][] = [];
    const run = async (batch: readonly number[]) => {
      runs.push([...batch]);
    };
    queue.gather(1, run);
    queue.gather(2, run);
    queue.enqueue(() => {
      throw new Error('boom');
    });
    // After another task, items start a new batch.
    queue.gather(3, run);
    await queue.idle();
    expect(runs).toEqual([[1, 2], [3]]);
    expect(failures).toHaveLength(1);
  });
});
