/**
 * Author hash chains: each author's events are numbered `seq` 1, 2, 3… and each names its predecessor in `prev`.
 * Checked at delivery time (causal delivery guarantees `prev` was delivered first), so a gap shows up as an event
 * stuck waiting for its `prev`, and two different events with one (author, seq) as equivocation.
 */

export type ChainVerdict = 'ok' | 'equivocation' | 'bad-prev';

interface ChainEvent {
  id: string;
  author: string;
  seq: number;
  prev: string | null;
}

export class ChainTracker {
  /** author → seq → id (nested rather than an "author/seq" key: no string built per event). */
  private readonly bySeq = new Map<string, Map<number, string>>();
  private readonly heads = new Map<string, { id: string; seq: number }>();
  private readonly equivocators = new Set<string>();

  /** Checks an event whose `prev` (if any) was already recorded, and records it if it is valid. */
  check(ev: ChainEvent): ChainVerdict {
    let seqs = this.bySeq.get(ev.author);
    const existing = seqs?.get(ev.seq);
    if (existing !== undefined && existing !== ev.id) {
      this.equivocators.add(ev.author);
      return 'equivocation';
    }
    // prev must be the event recorded at (author, seq - 1); a recorded entry is never replaced by another id.
    if (ev.prev !== null) {
      if (ev.seq < 2 || seqs?.get(ev.seq - 1) !== ev.prev) return 'bad-prev';
    } else if (ev.seq !== 1) return 'bad-prev';
    if (!seqs) {
      seqs = new Map();
      this.bySeq.set(ev.author, seqs);
    }
    seqs.set(ev.seq, ev.id);
    const head = this.heads.get(ev.author);
    if (!head || head.seq < ev.seq) this.heads.set(ev.author, { id: ev.id, seq: ev.seq });
    return 'ok';
  }

  head(author: string): { id: string; seq: number } | undefined {
    return this.heads.get(author);
  }

  allHeads(): Map<string, { id: string; seq: number }> {
    return new Map(this.heads);
  }

  equivocating(): string[] {
    return [...this.equivocators];
  }
}
