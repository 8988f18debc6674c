/**
 * The first half of ingest, pure and self-contained so it can run on the open thread (node/opener.ts): a batch of
 * sealed entries in, authenticated events and per-entry refusals out.
 *
 *   hash check (key == BLAKE2b(value)) → open (decrypt + canonical parse + body schema) → signature.
 *
 * Signatures are amortised over hash chains: within one batch, an author's newest event is verified, and every
 * event reachable from it through `prev` links is authenticated by that one signature (each `prev` is the hash of
 * the sealed predecessor, itself checked against its key). Anything not covered is verified on its own.
 */
import { contentId } from '../protocol/hash.js';
import { openEvent, verifyEventSignature, type EpochContext, type EventBody } from '../protocol/event.js';

export interface SealedEntry {
  key: string;
  value: Uint8Array;
}

/** An authenticated event, as the rest of ingest (causal delivery, chains, membership) takes it. */
export interface IngestEvent {
  id: string;
  body: EventBody;
  /** The canonical body text the author signed. */
  bodyText: string;
  signature: Uint8Array;
  lamport: number;
  deps: string[];
  prev: string | null;
}

export interface OpenedBatch {
  /** Authenticated events, in entry order, with the index of the entry each came from. */
  events: { index: number; event: IngestEvent }[];
  /** Refused entries: the entry's index and why (without where it came from: the caller knows that). */
  refused: { index: number; reason: string }[];
}

export const BAD_SIGNATURE = 'entry with a bad signature';
export const NOT_THE_HASH = 'entry whose key is not the hash of its value';

export function openBatch(entries: readonly SealedEntry[], epoch: EpochContext): OpenedBatch {
  const refused: OpenedBatch['refused'] = [];
  const opened: { index: number; event: IngestEvent; bodyBytes: Uint8Array }[] = [];
  for (let index = 0; index < entries.length; index++) {
    const { key, value } = entries[index];
    if (contentId(value) !== key) {
      refused.push({ index, reason: NOT_THE_HASH });
      continue;
    }
    const r = openEvent(value, epoch, { verifySignature: false, id: key });
    if (!r.ok) {
      refused.push({ index, reason: `entry refused: ${r.reason}` });
      continue;
    }
    const { body, bodyText, signature, bodyBytes } = r.event;
    opened.push({
      index,
      bodyBytes,
      event: { id: key, body, bodyText, signature, lamport: body.lamport, deps: body.deps, prev: body.prev },
    });
  }
  const covered = coveredByChains(opened);
  const events: OpenedBatch['events'] = [];
  for (const o of opened) {
    const b = o.event.body;
    if (covered.has(o.event.id) || verifyEventSignature(o.bodyBytes, o.event.signature, b.author))
      events.push({ index: o.index, event: o.event });
    else refused.push({ index: o.index, reason: BAD_SIGNATURE });
  }
  refused.sort((a, b) => a.index - b.index);
  return { events, refused };
}

/** Ids authenticated by a verified signature on a later event of the same author's chain within the batch. */
function coveredByChains(opened: { event: IngestEvent; bodyBytes: Uint8Array }[]): Set<string> {
  const byId = new Map(opened.map((o) => [o.event.id, o]));
  const newest = new Map<string, (typeof opened)[number]>();
  for (const o of opened) {
    const cur = newest.get(o.event.body.author);
    if (!cur || cur.event.body.seq < o.event.body.seq) newest.set(o.event.body.author, o);
  }
  const covered = new Set<string>();
  for (const head of newest.values()) {
    const author = head.event.body.author;
    if (!verifyEventSignature(head.bodyBytes, head.event.signature, author)) continue;
    for (
      let o: (typeof opened)[number] | undefined = head;
      o && !covered.has(o.event.id);
      o = o.event.prev ? byId.get(o.event.prev) : undefined
    ) {
      if (o.event.body.author !== author) break;
      covered.add(o.event.id);
    }
  }
  return covered;
}
