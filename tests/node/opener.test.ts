/**
 * Opening a batch on the open thread (node/opener.ts) gives exactly what opening it inline gives: the same events
 * (ids, bodies, canonical texts, signatures) and the same refusals, for honest chains and every kind of hostile
 * entry; batches come back in order; and a thread that dies leaves no batch unanswered. The thread runs the
 * compiled worker in dist/ (built by `npm install`).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ready } from '../../protocol/sodium.js';
import { memberId, randomChannelId, newEpochKey, newIdentity, sign } from '../../protocol/keys.js';
import { sealEvent, signEvent, type EpochContext, type EventBody } from '../../protocol/event.js';
import { concat, utf8 } from '../../protocol/bytes.js';
import { BAD_SIGNATURE, openBatch, type OpenedBatch, type SealedEntry } from '../../node/open-batch.js';
import { Ingestor } from '../../node/ingest.js';
import { decodeResponse, encodeRequest, decodeRequest, encodeResponse, openThreadFor } from '../../node/opener.js';

const WORKER = fileURLToPath(new URL('../../dist/node/open-worker.js', import.meta.url));

beforeAll(async () => {
  await ready();
  if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing: run \`npm run build\` first`);
});

/** Two authors' chains interleaved, with hostile entries of every kind mixed in. */
function hostileBatch(): { entries: SealedEntry[]; epoch: EpochContext } {
  const ch = randomChannelId();
  const epoch = { ch, ep: 0, key: newEpochKey() };
  const alice = newIdentity();
  const bob = newIdentity();
  const mallory = newIdentity();
  const entries: SealedEntry[] = [];
  const heads = new Map<string, { id: string; seq: number }>();
  const body = (author: string, i: number): EventBody => {
    const h = heads.get(author);
    return {
      v: 1,
      ch,
      ep: 0,
      type: 'message',
      author,
      seq: (h?.seq ?? 0) + 1,
      prev: h?.id ?? null,
      deps: [],
      lamport: (h?.seq ?? 0) + 1,
      ts: 1_700_000_000_000 + i,
      payload: { kind: 'chat', body: `message ${i} \u2028 "quoted" é` },
    };
  };
  const add = (signed: Uint8Array, ctx = epoch) => {
    const { id, sealed } = sealEvent(signed, ctx);
    entries.push({ key: id, value: sealed });
    return id;
  };
  for (let i = 0; i < 150; i++) {
    const who = i % 3 === 0 ? bob : alice;
    const author = memberId(who.publicKey);
    const b = body(author, i);
    heads.set(author, { id: add(signEvent(b, who.secretKey)), seq: b.seq });
    if (i === 40) add(signEvent(body(memberId(bob.publicKey), i), mallory.secretKey)); // claims bob, signed by mallory
    if (i === 50) {
      const { sealed } = sealEvent(signEvent(body(author, i), who.secretKey), epoch);
      entries.push({ key: 'A'.repeat(43), value: sealed }); // key is not the value's hash
    }
    // Sealed with another room's key.
    if (i === 60) add(signEvent(body(author, i), who.secretKey), { ...epoch, key: newEpochKey() });
    if (i === 70) {
      const text = utf8(JSON.stringify(body(author, i), null, 1)); // valid JSON, not canonical
      add(concat(text, sign(concat(utf8('parley-event-v1'), text), who.secretKey)));
    }
    if (i === 80) {
      const flipped = sealEvent(signEvent(body(author, i), who.secretKey), epoch).sealed;
      flipped[flipped.length - 1] ^= 1;
      add(flipped);
    }
  }
  // Bob's newest event badly signed: his chain is then checked event by event.
  add(signEvent(body(memberId(bob.publicKey), 999), mallory.secretKey));
  return { entries, epoch };
}

/** What the rest of ingest sees of a batch, with signatures as plain arrays (comparable across realms). */
function view(b: OpenedBatch) {
  return {
    events: b.events.map(({ index, event }) => ({ index, ...event, signature: [...event.signature] })),
    refused: b.refused,
  };
}

describe('open thread', () => {
  it('the wire format carries a batch both ways unchanged', () => {
    const { entries, epoch } = hostileBatch();
    const { message } = encodeRequest(7, entries, epoch);
    const back = decodeRequest(message);
    expect(back.epoch).toEqual(epoch);
    expect(back.entries.map((e) => [e.key, [...e.value]])).toEqual(entries.map((e) => [e.key, [...e.value]]));
    const inline = openBatch(entries, epoch);
    expect(view(decodeResponse(encodeResponse(7, inline).message, entries))).toEqual(view(inline));
  });

  it('opens exactly as inline does, hostile entries included, and answers batches in order', async () => {
    const { entries, epoch } = hostileBatch();
    const inline = openBatch(entries, epoch);
    // The fixture is what it claims to be: every kind of refusal occurs, the honest chains get through.
    const reasons = inline.refused.map((r) => r.reason);
    expect(reasons).toEqual(
      expect.arrayContaining([
        'entry whose key is not the hash of its value',
        'entry refused: decrypt',
        'entry refused: not-canonical',
        BAD_SIGNATURE,
      ]),
    );
    expect(reasons.filter((r) => r === BAD_SIGNATURE)).toHaveLength(2);
    expect(inline.events).toHaveLength(150);

    const thread = openThreadFor(WORKER);
    try {
      const parts = [entries.slice(0, 70), entries.slice(70), entries];
      const order: number[] = [];
      const results = await Promise.all(
        parts.map((p, i) =>
          thread.open(p, epoch).then((r) => {
            order.push(i);
            return r;
          }),
        ),
      );
      expect(order).toEqual([0, 1, 2]);
      expect(thread.answered()).toBe(3);
      expect(view(results[2])).toEqual(view(inline));
      parts.forEach((p, i) => {
        expect(view(results[i])).toEqual(view(openBatch(p, epoch)));
      });
    } finally {
      await thread.close();
    }
  });

  it('a thread that dies leaves no batch unanswered: they are opened inline', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-opener-'));
    const dying = join(dir, 'dying-worker.mjs');
    writeFileSync(dying, 'setTimeout(() => process.exit(3), 50);\n');
    try {
      const { entries, epoch } = hostileBatch();
      const thread = openThreadFor(dying);
      const results = await Promise.all([
        thread.open(entries.slice(0, 80), epoch),
        thread.open(entries.slice(80), epoch),
      ]);
      expect(view(results[0])).toEqual(view(openBatch(entries.slice(0, 80), epoch)));
      expect(view(results[1])).toEqual(view(openBatch(entries.slice(80), epoch)));
      expect(thread.answered()).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keys that are not content ids are refused before any batch is built (they could not travel as lines)', () => {
    const { entries } = hostileBatch();
    const problems: string[] = [];
    const ingestor = new Ingestor(
      () => null,
      () => undefined,
    );
    const odd = [
      { key: `${entries[0].key.slice(0, 20)}\n${entries[0].key.slice(21)}`, value: entries[0].value, relay: 'ws://r' },
      { key: entries[1].key + 'x', value: entries[1].value, relay: null },
      { key: '', value: entries[2].value, relay: null },
    ];
    const fresh = ingestor.claim([...odd, { ...entries[3], relay: null }]);
    expect(fresh.map((e) => e.key)).toEqual([entries[3].key]);
    problems.push(...ingestor.report());
    expect(problems).toEqual([
      'entry whose key is not the hash of its value (from ws://r)',
      '2× entry whose key is not the hash of its value',
    ]);
  });
});
