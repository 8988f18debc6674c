/**
 * Fuzz: 10,000 random and mutated frames (valid y-protocol framing with hostile contents, truncated varints, huge
 * lengths, flipped bytes of valid updates) against a real relay process, while an honest client keeps syncing.
 * The relay must not crash, its memory must stay bounded, and the honest client must be unaffected. Run against
 * both stores (SQLite; PostgreSQL in a cluster this file starts).
 */
import { mulberry32 as prng } from '../helpers/random.js';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import { spawnRelay } from '../helpers/relay.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { fetchRoom } from '../helpers/doc.js';
import { until } from '../helpers/until.js';
import { ready } from '../../protocol/sodium.js';
import { newEpochKey, relayAuthParams } from '../../protocol/keys.js';
import { contentId } from '../../protocol/hash.js';

const FRAMES = 10_000;
let relay: Awaited<ReturnType<typeof spawnRelay>>;
let pg: TestPostgres;
beforeAll(async () => {
  await ready();
  pg = await startPostgres({ fsync: false });
}, 60_000);
afterAll(() => pg?.stop());

function validUpdate(rand: () => number): Uint8Array {
  const doc = new Y.Doc();
  const value = new Uint8Array(300).map(() => Math.floor(rand() * 256));
  doc.getMap('log').set(contentId(value), value);
  return Y.encodeStateAsUpdate(doc);
}

function frame(kind: number, rand: () => number): Uint8Array {
  const e = encoding.createEncoder();
  const bytes = (n: number) => new Uint8Array(n).map(() => Math.floor(rand() * 256));
  switch (kind) {
    case 0: // sync update with random contents
      encoding.writeVarUint(e, 0);
      encoding.writeVarUint(e, 2);
      encoding.writeVarUint8Array(e, bytes(Math.floor(rand() * 400)));
      break;
    case 1: // valid update with flipped bytes
      {
        const u = validUpdate(rand);
        for (let i = 0; i < 1 + Math.floor(rand() * 4); i++)
          u[Math.floor(rand() * u.length)] ^= 1 + Math.floor(rand() * 255);
        encoding.writeVarUint(e, 0);
        encoding.writeVarUint(e, rand() < 0.5 ? 1 : 2);
        encoding.writeVarUint8Array(e, u);
        break;
      }
    case 2: // truncated varint
      return Uint8Array.of(0, 0x80 | Math.floor(rand() * 128), 0xff, 0xff);
    case 3: // huge declared length
      encoding.writeVarUint(e, 0);
      encoding.writeVarUint(e, 2);
      encoding.writeVarUint(e, 2 ** 40 + Math.floor(rand() * 1000));
      encoding.writeUint8Array(e, bytes(16));
      break;
    case 4: // sync step 1 with a garbage state vector
      encoding.writeVarUint(e, 0);
      encoding.writeVarUint(e, 0);
      encoding.writeVarUint8Array(e, bytes(Math.floor(rand() * 64)));
      break;
    case 5: // awareness with garbage
      encoding.writeVarUint(e, 1);
      encoding.writeVarUint8Array(e, bytes(Math.floor(rand() * 200)));
      break;
    case 6: // unknown message type
      encoding.writeVarUint(e, 2 + Math.floor(rand() * 1000));
      encoding.writeUint8Array(e, bytes(Math.floor(rand() * 50)));
      break;
    default: // pure noise
      return bytes(1 + Math.floor(rand() * 512));
  }
  return encoding.toUint8Array(e);
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Opens an authed socket to `key`'s room; resolves once open (or with null if refused). */
function open(key: Uint8Array): Promise<WebSocket | null> {
  const { room, ts, sig } = relayAuthParams(key);
  return new Promise((resolve) => {
    const ws = new WebSocket(`${relay.url}/${room}?ts=${ts}&sig=${sig}`);
    ws.on('open', () => resolve(ws));
    ws.on('error', () => resolve(null));
    ws.on('unexpected-response', () => resolve(null));
  });
}

describe.each(['sqlite', 'postgres'] as const)('relay fuzz, %s store', (kind) => {
  beforeAll(async () => {
    relay = await spawnRelay(kind === 'postgres' ? { store: await pg.createDatabase() } : {});
  }, 60_000);
  afterAll(() => relay?.stop());

  it(`survives ${FRAMES} hostile frames with bounded memory while an honest client syncs`, {
    timeout: 120_000,
  }, async () => {
    const rand = prng(0xfa22);
    const key = newEpochKey();
    const honest = new Y.Doc();
    const before = rssKb(relay.process.pid!);
    let sent = 0;
    let connections = 0;
    const closeCodes = new Map<number, number>();
    while (sent < FRAMES) {
      const ws = await open(key);
      expect(ws).not.toBeNull();
      connections++;
      const closed = new Promise<void>((resolve) =>
        ws!.on('close', (code) => {
          closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1);
          resolve();
        }),
      );
      // A burst per connection; the relay closes it at the first refused frame, which is fine.
      for (let i = 0; i < 50 && sent < FRAMES && ws!.readyState === WebSocket.OPEN; i++, sent++)
        ws!.send(frame(Math.floor(rand() * 8), rand));
      ws!.close();
      await closed;
      if (connections % 20 === 0) {
        // The honest client writes a valid entry between bursts.
        const value = new Uint8Array(300).map(() => Math.floor(rand() * 256));
        honest.getMap('log').set(contentId(value), value);
        const c = await open(key);
        const e = encoding.createEncoder();
        encoding.writeVarUint(e, 0);
        syncProtocol.writeUpdate(e, Y.encodeStateAsUpdate(honest));
        c!.send(encoding.toUint8Array(e));
        await until(async () => (await fetchRoom(relay.url, key)).has(contentId(value)), {
          what: "the honest client's entry at the relay",
        });
        c!.close();
      }
    }
    const after = rssKb(relay.process.pid!);
    const health = await fetch(relay.url.replace('ws://', 'http://') + '/healthz');
    expect(health.status).toBe(200);
    const served = await fetchRoom(relay.url, key);
    const want = [...honest.getMap<Uint8Array>('log').keys()].sort();
    expect([...served.keys()].sort()).toEqual(want);
    console.log(
      `fuzz: ${sent} frames over ${connections} connections; close ` +
        `codes ${JSON.stringify(Object.fromEntries(closeCodes))}; relay RSS ${before} → ${after} KiB; honest ` +
        `entries ${want.length}/${want.length}`,
    );
    expect(relay.process.exitCode).toBeNull();
    expect(after - before).toBeLessThan(200 * 1024);
  });
});
