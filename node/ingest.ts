/**
 * The ingest pipeline of one channel: sealed entries in, delivered events out.
 *
 *   claim (skip entries seen before) → open and authenticate (node/open-batch.ts: hash, decrypt, canonical body,
 *   signature; large batches on the open thread, node/opener.ts) → causal buffer → at release: membership, lamport
 *   and author-chain checks → delivered.
 *
 * Rejected entries never reach delivery; they are counted by reason for `verify_channel`.
 */
import type { EventBody } from '../protocol/event.js';
import { CausalBuffer } from '../protocol/causal.js';
import { ChainTracker } from '../protocol/chain.js';
import { isB64uOf } from '../protocol/body-check.js';
import { judgeEvent, type RuleState } from './event-rules.js';
import { NOT_THE_HASH, type IngestEvent, type OpenedBatch, type SealedEntry } from './open-batch.js';

export type { IngestEvent };

export interface IngestEntry extends SealedEntry {
  relay: string | null;
}

/** Why an event may not be delivered, null if it may, or 'defer' if it cannot be judged yet. */
export type Refusal = RuleState['refusal'];

export class Ingestor {
  readonly chains = new ChainTracker();
  private readonly lamports = new Map<string, number>();
  private readonly heads = new Set<string>();
  private readonly problems = new Map<string, number>();
  private readonly causal: CausalBuffer<IngestEvent>;
  private readonly seen = new Set<string>();
  /** The delivery rules' view of this channel (node/event-rules.ts), built once: ingest judges every event. */
  private readonly rules: RuleState;

  constructor(
    refuse: Refusal,
    private readonly onDeliver: (ev: IngestEvent) => void,
    /** An authentic event that membership refused, with the reason (kept as evidence). */
    private readonly onRefuse: (ev: IngestEvent, reason: string) => void = () => undefined,
    /** Every newly opened, authentic event, before causal order holds it back (node/channel/epoch-keys.ts `early`). */
    private readonly onAuthentic: (ev: IngestEvent) => void = () => undefined,
  ) {
    this.causal = new CausalBuffer<IngestEvent>((ev) => this.accept(ev));
    this.rules = { lamportOf: this.lamportOf, refusal: refuse, chains: this.chains };
  }

  /** Restores state from events delivered in an earlier run (already verified then). */
  restore(events: { id: string; body: EventBody }[], apply: (id: string, body: EventBody) => void): void {
    for (const { id, body } of events) {
      this.chains.check({ id, author: body.author, seq: body.seq, prev: body.prev });
      this.record(id, body);
      this.seen.add(id);
      apply(id, body);
    }
    this.causal.markDelivered(events.map((e) => e.id));
  }

  has(id: string): boolean {
    return this.seen.has(id);
  }

  /**
   * The entries not seen before, which from now on count as seen (each entry is opened once). A key that is not
   * shaped like a content id cannot be the hash of its value: refused here, so that the open thread's line-based
   * format (node/opener.ts) only ever carries well-formed keys.
   */
  claim(entries: IngestEntry[]): IngestEntry[] {
    const fresh: IngestEntry[] = [];
    for (const e of entries) {
      if (this.seen.has(e.key)) continue;
      this.seen.add(e.key);
      if (isB64uOf(e.key, 32)) fresh.push(e);
      else this.problem(`${NOT_THE_HASH}${from(e.relay)}`);
    }
    return fresh;
  }

  /** Takes an opened batch of claimed `entries`: counts its refusals, delivers what causal order allows. */
  admit(batch: OpenedBatch, entries: readonly IngestEntry[]): IngestEvent[] {
    for (const r of batch.refused) this.problem(`${r.reason}${from(entries[r.index].relay)}`);
    return this.release(batch.events.map((e) => e.event));
  }

  /**
   * One of our own events, just written (node/channel/authoring.ts): authentic by construction, so not opened, but
   * from here on it takes the same path as anyone's: causal order, then the delivery rules (node/event-rules.ts).
   * Its entry, when the replica's observer reports it after the commit, is then already seen.
   */
  admitOwn(ev: IngestEvent): IngestEvent[] {
    this.seen.add(ev.id);
    return this.release([ev]);
  }

  /** Authentic events into causal order; returns those delivered now. */
  private release(events: IngestEvent[]): IngestEvent[] {
    for (const ev of events) this.onAuthentic(ev);
    const out = this.causal.add(events);
    // Something delivered may be what deferred events waited for (the channel.create).
    if (out.length > 0 && this.causal.deferredCount() > 0) out.push(...this.causal.retryDeferred());
    return out;
  }

  private accept(ev: IngestEvent): boolean | 'defer' {
    const b = ev.body;
    const broken = judgeEvent(ev.id, b, this.rules);
    if (!broken) {
      this.record(ev.id, b);
      this.onDeliver(ev);
      return true;
    }
    switch (broken.rule) {
      case 'defer':
        return 'defer';
      case 'lamport':
        return this.refused(`event with a wrong lamport clock by ${short(b.author)}`);
      case 'membership':
        this.onRefuse(ev, broken.reason);
        return this.refused(`${broken.reason} (${short(b.author)})`);
      case 'equivocation':
        return this.refused(`equivocation: two events with seq ${b.seq} by ${short(b.author)}`);
      case 'chain':
        return this.refused(`broken hash chain by ${short(b.author)}`);
    }
  }

  private record(id: string, b: EventBody): void {
    this.lamports.set(id, b.lamport);
    for (const d of b.deps) this.heads.delete(d);
    if (b.prev) this.heads.delete(b.prev);
    this.heads.add(id);
  }

  private refused(reason: string): false {
    this.problem(reason);
    return false;
  }

  /** Counts a problem for `verify_channel` (also relay updates the replica refused, node/relay-guard.ts). */
  problem(reason: string): void {
    this.problems.set(reason, (this.problems.get(reason) ?? 0) + 1);
  }

  /** A delivered event's lamport clock; a bound function, passed to nextLamport for every event. */
  readonly lamportOf = (id: string): number | undefined => this.lamports.get(id);

  /** Current heads of the delivered DAG, newest first, at most `max`. */
  currentHeads(max: number): string[] {
    return [...this.heads]
      .sort((a, b) => (this.lamports.get(b) ?? 0) - (this.lamports.get(a) ?? 0) || (a < b ? -1 : 1))
      .slice(0, max);
  }

  report(): string[] {
    const out = [...this.problems.entries()].map(([reason, n]) => (n > 1 ? `${n}× ${reason}` : reason));
    const waiting = this.causal.pendingCount();
    if (waiting > 0)
      out.push(`${waiting} event(s) wait for missing dependencies: ${this.causal.missing().slice(0, 5).join(', ')}`);
    return out;
  }

  pendingCount(): number {
    return this.causal.pendingCount();
  }

  missing(): string[] {
    return this.causal.missing();
  }
}

const short = (id: string) => id.slice(0, 8);
const from = (relay: string | null) => (relay ? ` (from ${relay})` : '');
