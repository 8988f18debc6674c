/**
 * The ingest pipeline of one channel: sealed entries in, delivered events out.
 *
 *   hash check (key == BLAKE2b(value)) → open (decrypt + parse) → signature → causal buffer → at release: membership,
 *   lamport and author-chain checks → delivered.
 *
 * Signatures are amortised over hash chains: within one batch, an author's newest event is verified, and every
 * event reachable from it through `prev` links is authenticated by that one signature (each `prev` is the hash of
 * the sealed predecessor). Anything not covered is verified on its own. Rejected entries never reach delivery;
 * they are counted by reason for `verify_channel`.
 */
import { contentId } from '../protocol/hash.js';
import { openEvent, verifyEventSignature, type EpochContext, type EventBody, type OpenedEvent } from '../protocol/event.js';
import { CausalBuffer } from '../protocol/causal.js';
import { ChainTracker } from '../protocol/chain.js';

export interface IngestEvent extends OpenedEvent {
  lamport: number;
  deps: string[];
  prev: string | null;
}

export interface Refusal {
  (ev: IngestEvent): string | null;
}

export class Ingestor {
  readonly chains = new ChainTracker();
  private readonly lamports = new Map<string, number>();
  private readonly heads = new Set<string>();
  private readonly problems = new Map<string, number>();
  private readonly causal: CausalBuffer<IngestEvent>;
  private readonly seen = new Set<string>();

  constructor(
    private readonly refuse: Refusal,
    private readonly onDeliver: (ev: IngestEvent) => void,
  ) {
    this.causal = new CausalBuffer<IngestEvent>((ev) => this.accept(ev));
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

  ingest(entries: { key: string; value: Uint8Array; relay: string | null }[], epoch: EpochContext): IngestEvent[] {
    const opened: IngestEvent[] = [];
    for (const { key, value, relay } of entries) {
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      if (contentId(value) !== key) {
        this.problem(`entry whose key is not the hash of its value${from(relay)}`);
        continue;
      }
      const r = openEvent(value, epoch, { verifySignature: false, id: key });
      if (!r.ok) {
        this.problem(`entry refused: ${r.reason}${from(relay)}`);
        continue;
      }
      const e = r.event;
      const b = e.body;
      opened.push({ id: e.id, body: b, bodyBytes: e.bodyBytes, bodyText: e.bodyText, signature: e.signature, sealed: e.sealed, lamport: b.lamport, deps: b.deps, prev: b.prev });
    }
    const authentic = this.authenticate(opened);
    const delivered: IngestEvent[] = [];
    for (const ev of this.causal.add(authentic)) delivered.push(ev);
    return delivered;
  }

  private authenticate(events: IngestEvent[]): IngestEvent[] {
    const byId = new Map(events.map((e) => [e.id, e]));
    const newest = new Map<string, IngestEvent>();
    for (const e of events) {
      const cur = newest.get(e.body.author);
      if (!cur || cur.body.seq < e.body.seq) newest.set(e.body.author, e);
    }
    const covered = new Set<string>();
    for (const head of newest.values()) {
      if (!verifyEventSignature(head.bodyBytes, head.signature, head.body.author)) continue;
      for (let e: IngestEvent | undefined = head; e && !covered.has(e.id); e = e.prev ? byId.get(e.prev) : undefined) {
        if (e.body.author !== head.body.author) break;
        covered.add(e.id);
      }
    }
    return events.filter((e) => {
      if (covered.has(e.id) || verifyEventSignature(e.bodyBytes, e.signature, e.body.author)) return true;
      this.problem('entry with a bad signature');
      return false;
    });
  }

  private accept(ev: IngestEvent): boolean {
    const b = ev.body;
    let expected = 1;
    for (const d of b.deps) expected = Math.max(expected, (this.lamports.get(d) ?? 0) + 1);
    if (b.prev) expected = Math.max(expected, (this.lamports.get(b.prev) ?? 0) + 1);
    if (b.lamport !== expected) return this.refused(`event with a wrong lamport clock by ${short(b.author)}`);
    const reason = this.refuse(ev);
    if (reason) return this.refused(`${reason} (${short(b.author)})`);
    const verdict = this.chains.check({ id: ev.id, author: b.author, seq: b.seq, prev: b.prev });
    if (verdict === 'equivocation') return this.refused(`equivocation: two events with seq ${b.seq} by ${short(b.author)}`);
    if (verdict !== 'ok') return this.refused(`broken hash chain by ${short(b.author)}`);
    this.record(ev.id, b);
    this.onDeliver(ev);
    return true;
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

  private problem(reason: string): void {
    this.problems.set(reason, (this.problems.get(reason) ?? 0) + 1);
  }

  lamportOf(id: string): number | undefined {
    return this.lamports.get(id);
  }

  /** Current heads of the delivered DAG, newest first, at most `max`. */
  currentHeads(max: number): string[] {
    return [...this.heads].sort((a, b) => (this.lamports.get(b) ?? 0) - (this.lamports.get(a) ?? 0) || (a < b ? -1 : 1)).slice(0, max);
  }

  report(): string[] {
    const out = [...this.problems.entries()].map(([reason, n]) => (n > 1 ? `${n}× ${reason}` : reason));
    const waiting = this.causal.pendingCount();
    if (waiting > 0) out.push(`${waiting} event(s) wait for missing dependencies: ${this.causal.missing().slice(0, 5).join(', ')}`);
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
