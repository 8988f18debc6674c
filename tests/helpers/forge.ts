/**
 * The attacker's tools for tests: craft signed, sealed events by hand (any author, deps, lamport and payload the
 * attacker likes) and push them into a relay room as a stock y-websocket client, under a chosen Yjs client id.
 */
import * as Y from 'yjs';
import type { WebsocketProvider } from 'y-websocket';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { sealEvent, signEvent, type EpochContext, type EventType } from '../../protocol/event.js';
import { memberId, type KeyPair } from '../../protocol/keys.js';
import { readIdentity } from '../../node/identity.js';
import { fetchRoom, openRoom } from './doc.js';
import { until } from './until.js';

export interface Crafted {
  id: string;
  sealed: Uint8Array;
}

export interface CraftFields {
  type: EventType;
  payload: Record<string, unknown>;
  seq?: number;
  prev?: string | null;
  deps?: string[];
  lamport?: number;
}

/** A well-signed event with whatever fields the attacker chose (default: a first event with no deps, lamport 1). */
export function craft(who: KeyPair, epoch: EpochContext, f: CraftFields): Crafted {
  const body = {
    v: 1 as const,
    ch: epoch.ch,
    ep: epoch.ep,
    type: f.type,
    author: memberId(who.publicKey),
    seq: f.seq ?? 1,
    prev: f.prev ?? null,
    deps: [...(f.deps ?? [])].sort(),
    lamport: f.lamport ?? 1,
    ts: Date.now(),
    payload: f.payload,
  };
  return sealEvent(signEvent(body, who.secretKey), epoch);
}

/** Writes entries into a relay room as a stock client would, and resolves once the relay serves them back. */
export async function pushEntries(
  relayUrl: string,
  epochKey: Uint8Array,
  entries: Crafted[],
  clientID?: number,
): Promise<void> {
  const doc = new Y.Doc();
  if (clientID !== undefined) doc.clientID = clientID;
  let provider: WebsocketProvider | undefined;
  try {
    provider = await openRoom(relayUrl, epochKey, doc);
    doc.transact(() => {
      for (const e of entries) doc.getMap<Uint8Array>('log').set(e.id, e.sealed);
    });
    await until(
      () => fetchRoom(relayUrl, epochKey),
      (stored) => entries.every((e) => stored.has(e.id)),
      { what: 'the relay to store the pushed entries' },
    );
  } finally {
    provider?.destroy();
    doc.destroy();
  }
}

/** The identity of a node's profile (the attacker is a member who reads its own key file). */
export const identityOf = (home: string): KeyPair => readIdentity(join(home, 'identity.json'));

/** A profile's own chain head in a channel, with its lamport clock: what a member's next event must continue. */
export function headOf(home: string, ch: string): { seq: number; id: string; lamport: number } {
  const db = new Database(join(home, 'node.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const head = db.prepare('SELECT seq, id FROM my_heads WHERE ch = ?').get(ch) as { seq: number; id: string };
    const { lamport } = db.prepare('SELECT lamport FROM delivered WHERE id = ?').get(head.id) as { lamport: number };
    return { ...head, lamport };
  } finally {
    db.close();
  }
}
