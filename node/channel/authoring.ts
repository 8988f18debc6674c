/**
 * Writing one event of ours into the channel, in one direction:
 *
 *   build (deps, seq and prev from our chain, lamport by nextLamport) → sign → seal → store (write-ahead: the
 *   event's document update and our new chain head, in the caller's transaction) → deliver from the signed body in
 *   hand (Ingestor.admitOwn: causal order and the same delivery rules as anyone's event, node/event-rules.ts).
 *
 * Our sealed bytes are never opened again here: the replica sends them once the transaction has committed, and its
 * observer's report of the new entry finds it already seen.
 */
import {
  MAX_DEPS,
  MAX_SEALED_BYTES,
  nextLamport,
  sealEvent,
  signEventParts,
  type EpochContext,
  type EventBody,
  type EventType,
} from '../../protocol/event.js';
import type { KeyPair } from '../../protocol/keys.js';
import { EventTooLargeError } from '../errors.js';
import { failIfPlanned } from '../fault.js';
import type { Ingestor } from '../ingest.js';
import type { EpochReplica } from '../replica.js';
import type { LocalStore } from '../store.js';
import type { IngestPipeline } from './ingest-pipeline.js';

export interface AuthoringDeps {
  ch: string;
  me: string;
  identity: KeyPair;
  store: LocalStore;
  ingestor: Ingestor;
  pipeline: Pick<IngestPipeline, 'flush' | 'settleOnThread'>;
  replica(ep: number): EpochReplica;
  context(ep: number): EpochContext;
  /** `n` events were delivered (n may be 0). */
  delivered(n: number): void;
}

export class Authoring {
  constructor(private readonly d: AuthoringDeps) {}

  /**
   * Builds, signs, seals and stores one event of ours in epoch `ep`; returns its id. Write-ahead: the event, our new
   * chain head and its document update commit together before any byte leaves for a relay (`replica.put`), so a
   * failed commit sends nothing and the next post cannot reuse its `seq`; a crash after the commit loses nothing
   * (the stored update is loaded and sent at the next start). An event over the size relays accept is refused
   * before anything is signed into our chain. The event is delivered before `post` returns, as callers (and the
   * next post's lamport) expect.
   */
  post(type: EventType, payload: Record<string, unknown>, ep: number, pinnedDeps?: string[]): string {
    const { store, ingestor } = this.d;
    const replica = this.d.replica(ep);
    return store.transaction(() => {
      replica.pollStore();
      // Deps and lamport come from what is delivered: deliver whatever is pending first.
      this.d.pipeline.flush();
      const head = this.ownHead();
      // Our own last event, if another process of this profile posted it, may still be out on the open thread: its
      // lamport clock is needed now, and this post is delivered only after it.
      if (head && ingestor.lamportOf(head.id) === undefined) this.d.pipeline.settleOnThread();
      const prev = head?.id ?? null;
      const deps = (pinnedDeps ?? ingestor.currentHeads(MAX_DEPS)).filter((d) => d !== prev).sort();
      const built: EventBody = {
        v: 1,
        ch: this.d.ch,
        ep,
        type,
        author: this.d.me,
        seq: (head?.seq ?? 0) + 1,
        prev,
        deps,
        lamport: nextLamport(deps, prev, ingestor.lamportOf),
        ts: Date.now(),
        payload,
      };
      const signed = signEventParts(built, this.d.identity.secretKey);
      const { id, sealed } = sealEvent(signed.signed, this.d.context(ep));
      if (sealed.length > MAX_SEALED_BYTES) throw new EventTooLargeError(type, sealed.length);
      store.setMyHead(this.d.ch, built.seq, id);
      replica.put(id, sealed);
      const { body, bodyText, signature } = signed;
      const own = { id, body, bodyText, signature, lamport: body.lamport, deps: body.deps, prev: body.prev };
      this.d.delivered(ingestor.admitOwn(own).length);
      failIfPlanned();
      return id;
    });
  }

  /**
   * Our chain head in this channel: the one this profile stored, or, if the channel's history holds a later event
   * of ours (an identity restored into a new profile), that one, so a restored identity never reuses a `seq`.
   */
  private ownHead(): { id: string; seq: number } | undefined {
    const stored = this.d.store.myHead(this.d.ch);
    const seen = this.d.ingestor.chains.head(this.d.me);
    return seen && (!stored || seen.seq > stored.seq) ? seen : stored;
  }
}
