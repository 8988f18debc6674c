/**
 * `npm run bench -- floor [--events 100000] [--rounds 3]`
 *
 * What a node joining a long history cannot skip, each step measured alone in this process on the product's own
 * code, per event: the CPU floor under `npm run bench -- join`. Steps, on --events chained chat events made as the
 * join bench makes them:
 *
 *   yjs      apply the sealed entries to a fresh Y.Doc with an `update` listener (what any y-websocket client does)
 *   open     node/open-batch.ts openBatch in parts of 512: content id, decryption, canonical body, signatures
 *   admit    node/ingest.ts Ingestor.admit of the opened parts: causal order, chains, lamport clocks
 *   store    node/store.ts LocalStore.deliver of every row, in transactions of 512, into a fresh profile
 *
 * Baseline in the same run: the same apply for as many plaintext 300-byte entries (the join bench's baseline
 * client, without the network). Each figure is the fastest of --rounds (this machine's speed drifts; the floor is
 * what the code can do, not what it did on average).
 */
import { randomBytes } from 'node:crypto';
import * as Y from 'yjs';
import { ready } from '../protocol/sodium.js';
import { memberId, randomChannelId, newEpochKey, newIdentity } from '../protocol/keys.js';
import { NONCE_BYTES, sealEvent, signEvent, type EventBody } from '../protocol/event.js';
import { openBatch, type OpenedBatch } from '../node/open-batch.js';
import { Ingestor, type IngestEntry } from '../node/ingest.js';
import { OPEN_PART } from '../node/opener.js';
import { LocalStore } from '../node/store.js';
import { fmt } from './util.js';
import { intOptions } from './lib/args.js';
import { Cleanup } from './lib/cleanup.js';
import { randomEntry } from './lib/entries.js';
import { printTable } from './lib/table.js';

/** An update holding `entries` in a `log` map, as a writer's doc would hand it to a relay. */
function updateOf(entries: { key: string; value: Uint8Array }[]): Uint8Array {
  const doc = new Y.Doc();
  const log = doc.getMap<Uint8Array>('log');
  doc.transact(() => {
    for (const e of entries) log.set(e.key, e.value);
  });
  return Y.encodeStateAsUpdate(doc);
}

/**
 * Applies an update to a fresh doc that, like a provider, listens for the update it causes (Yjs encodes an update
 * for its listeners only when there are some); returns how many entries the doc then holds.
 */
function applyFresh(update: Uint8Array): number {
  const doc = new Y.Doc();
  doc.on('update', () => undefined);
  Y.applyUpdate(doc, update);
  const n = doc.getMap('log').size;
  doc.destroy();
  return n;
}

function parts<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += OPEN_PART) out.push(items.slice(i, i + OPEN_PART));
  return out;
}

// Long: a benchmark script: set up, measure, print, in the order its output reads.
export async function main(args: string[]): Promise<void> {
  const o = intOptions(args, { events: 100_000, rounds: 3 });
  if (o.events < OPEN_PART || o.rounds < 1)
    throw new Error(`--events must be at least ${OPEN_PART} and --rounds at least 1`);
  const N = o.events;
  await ready();
  const cleanup = new Cleanup();
  try {
    const identity = newIdentity();
    const author = memberId(identity.publicKey);
    const epoch = { ch: randomChannelId(), ep: 0, key: newEpochKey() };
    const sealed: IngestEntry[] = [];
    let prev: { id: string; seq: number } | null = null;
    const t = performance.now();
    for (let i = 1; i <= N; i++) {
      const seq: number = (prev?.seq ?? 0) + 1;
      const body: EventBody = {
        v: 1,
        ch: epoch.ch,
        ep: 0,
        type: 'message',
        author,
        seq,
        prev: prev?.id ?? null,
        deps: [],
        lamport: seq,
        ts: Date.now(),
        payload: { kind: 'chat', body: `history message ${i}` },
      };
      const { id, sealed: value } = sealEvent(signEvent(body, identity.secretKey), epoch, randomBytes(NONCE_BYTES));
      sealed.push({ key: id, value, relay: null });
      prev = { id, seq };
    }
    const plain = Array.from({ length: N }, () => randomEntry());
    const sealedUpdate = updateOf(sealed);
    const plainUpdate = updateOf(plain);
    const meanBytes = sealed.reduce((a, e) => a + e.value.length, 0) / N;
    console.log(
      `floor: ${N} chained chat events (sealed, mean ${fmt(meanBytes, 0)} B) vs ${N} plaintext entries of ` +
        `300 B; fastest of ${o.rounds} rounds`,
    );
    console.log(`setup (not timed): ${fmt((performance.now() - t) / 1000, 1)} s`);

    const best = new Map<string, number>();
    const time = (name: string, run: () => void) => {
      globalThis.gc?.();
      const t0 = performance.now();
      run();
      const ms = performance.now() - t0;
      best.set(name, Math.min(best.get(name) ?? Infinity, ms));
    };
    for (let round = 0; round < o.rounds; round++) {
      time('baseline', () => {
        if (applyFresh(plainUpdate) !== N) throw new Error('plaintext apply lost entries');
      });
      time('yjs', () => {
        if (applyFresh(sealedUpdate) !== N) throw new Error('sealed apply lost entries');
      });
      let opened: OpenedBatch[] = [];
      const split = parts(sealed);
      time('open', () => {
        opened = split.map((p) => openBatch(p, epoch));
      });
      if (opened.some((b) => b.refused.length > 0))
        throw new Error(`entries refused: ${opened.flatMap((b) => b.refused.map((r) => r.reason)).join('; ')}`);
      let delivered = 0;
      const ingestor = new Ingestor(
        () => null,
        () => delivered++,
      );
      time('admit', () => {
        split.forEach((p, i) => {
          ingestor.admit(opened[i], ingestor.claim(p));
        });
      });
      if (delivered !== N) throw new Error(`admitted ${delivered} of ${N}`);
      const store = new LocalStore(cleanup.tempDir('parley-bench-floor-'));
      time('store', () => {
        for (const b of opened) {
          store.transaction(() => {
            for (const { event: e } of b.events) {
              const body = e.body;
              store.deliver({
                ch: body.ch,
                ep: body.ep,
                id: e.id,
                type: body.type,
                author: body.author,
                seq: body.seq,
                lamport: body.lamport,
                ts: body.ts,
                body: e.bodyText,
                sig: e.signature,
              });
            }
          });
        }
      });
      if (store.deliveredCount(epoch.ch) !== N) throw new Error('store lost rows');
      store.close();
    }

    const us = (name: string) => (best.get(name)! * 1000) / N;
    const steps = ['yjs', 'open', 'admit', 'store'];
    const sum = steps.reduce((a, s) => a + best.get(s)!, 0);
    console.log('');
    printTable([
      ['', 'µs/event', `s per ${N}`],
      ['baseline: Y.applyUpdate of plaintext 300-byte entries', fmt(us('baseline')), fmt(best.get('baseline')! / 1000)],
      ['yjs: Y.applyUpdate of the sealed entries', fmt(us('yjs')), fmt(best.get('yjs')! / 1000)],
      ['open: hash, decrypt, canonical body, signatures (openBatch)', fmt(us('open')), fmt(best.get('open')! / 1000)],
      ['admit: causal order, chains, lamports (Ingestor.admit)', fmt(us('admit')), fmt(best.get('admit')! / 1000)],
      ['store: one delivered row each (LocalStore.deliver)', fmt(us('store')), fmt(best.get('store')! / 1000)],
      ['sum of the steps', fmt((sum * 1000) / N), fmt(sum / 1000)],
    ]);
    console.log(`\nratio sum/baseline: ${fmt(sum / best.get('baseline')!, 1)}×`);
    console.log(
      `on 2 cores, even split perfectly and with nothing else to do (no network, relay, garbage collection of the ` +
        `node's other state or hand-over between threads), these steps alone take at least ${fmt(sum / 2000, 2)} s`,
    );
  } finally {
    await cleanup.run();
  }
}
