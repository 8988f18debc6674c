/**
 * EpochReplica's room link against a scripted relay (a bare WebSocket server on loopback): what the relay sends goes
 * through the guard. A delete set, a refused sync step 2 and a malformed sync message are dropped and counted, a
 * refused step 2 does not mark the relay synced, items past a clock gap make the node ask with a sync step 1, and
 * nothing refused reaches the document or the store.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import * as Y from 'yjs';
import * as decoding from 'lib0/decoding';
import { until } from '../helpers/until.js';
import { captureUpdate } from '../helpers/doc.js';
import { ready } from '../../protocol/sodium.js';
import { contentId } from '../../protocol/hash.js';
import { parseLogUpdate } from '../../protocol/log-update.js';
import { MESSAGE_SYNC, SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE, syncMessage } from '../../relay/room.js';
import { EpochReplica } from '../../node/replica.js';
import { RelayPool } from '../../node/relay-connection.js';
import { decodeFrame, encodeData } from '../../protocol/mux.js';
import { LocalStore } from '../../node/store.js';

const cleanup: (() => void | Promise<void>)[] = [];
beforeAll(ready);
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const value = () => new Uint8Array(randomBytes(200));

/**
 * A relay whose every message the test writes (speaking the node's multiplexed framing, protocol/mux.ts, for the one
 * room the replica opens); records the sync steps the node sends.
 */
async function scriptedRelay() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  let socket: WebSocket | null = null;
  let room = -1;
  const steps: number[] = [];
  wss.on('connection', (ws) => {
    socket = ws;
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(new Uint8Array(data));
      if (frame?.kind === 'open') room = frame.id;
      if (frame?.kind !== 'data') return;
      const d = decoding.createDecoder(frame.message);
      if (decoding.readVarUint(d) === MESSAGE_SYNC) steps.push(decoding.readVarUint(d));
    });
  });
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => r());
      }),
  );
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    steps,
    connected: () => socket !== null && room >= 0,
    send: (message: Uint8Array) => socket!.send(encodeData(room, message)),
  };
}

function replica(relay: string) {
  const home = mkdtempSync(join(tmpdir(), 'parley-replica-'));
  const store = new LocalStore(home, { checkpointWorker: false });
  const refused: string[] = [];
  const pool = new RelayPool();
  let r!: EpochReplica;
  r = new EpochReplica(
    store,
    'ch',
    0,
    new Uint8Array(32).fill(7),
    'w',
    pool,
    () => undefined,
    () => r.flushUpdates(),
    (url, reason) => refused.push(`${reason} ${url}`),
  );
  cleanup.push(() => {
    r.close();
    pool.destroy();
    store.close();
    rmSync(home, { recursive: true, force: true });
  });
  r.connect([relay]);
  return { r, store, refused };
}

describe('EpochReplica: updates from a relay go through the guard', () => {
  it(
    'drops and counts a delete set, a refused sync step 2 and a malformed message; asks after a gap; stores ' +
      'nothing refused',
    async () => {
      const relay = await scriptedRelay();
      const { r, store, refused } = replica(relay.url);
      await until(() => relay.connected() && relay.steps.includes(SYNC_STEP1), {
        what: "the connection and the node's sync step 1",
      });
      const mine = value();
      r.put(contentId(mine), mine);

      // A peer that has the node's entry and writes three of its own: x, y, z (clocks 0, 1, 2).
      const peer = new Y.Doc();
      Y.applyUpdate(peer, Y.encodeStateAsUpdate(r.doc));
      const plog = peer.getMap<Uint8Array>('log');
      const [x, y, z] = [value(), value(), value()];
      const ux = captureUpdate(peer, () => plog.set(contentId(x), x));
      const uyz = captureUpdate(peer, () =>
        peer.transact(() => {
          plog.set(contentId(y), y);
          plog.set(contentId(z), z);
        }),
      );

      // A poisoned sync step 2: refused, and the relay is not marked synced.
      const poison = captureUpdate(peer, () => plog.delete(contentId(mine)));
      relay.send(syncMessage(SYNC_STEP2, poison));
      relay.send(syncMessage(SYNC_UPDATE, poison));
      // Truncated and unknown sync messages.
      relay.send(Uint8Array.of(MESSAGE_SYNC, SYNC_UPDATE, 50, 1));
      relay.send(Uint8Array.of(MESSAGE_SYNC, 7));
      // y and z without x: past a gap, so the node asks for what it lacks.
      const before = relay.steps.filter((s) => s === SYNC_STEP1).length;
      relay.send(syncMessage(SYNC_UPDATE, uyz));
      await until(() => relay.steps.filter((s) => s === SYNC_STEP1).length > before, {
        what: 'a sync step 1 after the gap',
      });
      expect(refused).toEqual([
        `delete-set ${relay.url}`,
        `delete-set ${relay.url}`,
        `undecodable ${relay.url}`,
        `undecodable ${relay.url}`,
      ]);
      expect(r.relays()[0]).toMatchObject({ connected: true, synced: false });
      expect(r.log.has(contentId(y))).toBe(false);

      // The answer: everything from x on, as a sync step 2.
      relay.send(syncMessage(SYNC_STEP2, Y.mergeUpdates([ux, uyz])));
      await until(() => r.log.size === 4, { what: 'the filled range' });
      expect(r.log.has(contentId(mine))).toBe(true);
      expect(r.relays()[0]).toMatchObject({ synced: true });
      expect(r.doc.store.pendingStructs).toBeNull();
      expect(r.refusals()).toEqual([
        { relay: relay.url, reason: 'delete-set', count: 2 },
        { relay: relay.url, reason: 'undecodable', count: 2 },
      ]);
      r.flushUpdates();
      const stored = store.docUpdatesSince('ch', 0, 0).map((row) => row.data);
      expect(parseLogUpdate(Y.mergeUpdates(stored))).toMatchObject({ ok: true });
    },
  );
});
