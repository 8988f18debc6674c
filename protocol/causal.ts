/**
 * Causal delivery: buffers events until everything they depend on (their `deps` and their author's `prev`) has
 * been delivered, then releases them in (lamport, id) order among those ready. A validation callback may refuse an
 * event at release time (bad chain, non-member, bad lamport); a refused event is never delivered, so neither is
 * anything that depends on it. It may also defer one (it cannot be judged yet, e.g. it came before the event that
 * gives it meaning): a deferred event waits, with everything that depends on it, until `retryDeferred`.
 * Pure: no I/O, no clocks.
 */
import { compareEvents } from './event.js';

export interface CausalItem {
  id: string;
  lamport: number;
  deps: readonly string[];
  prev: string | null;
}

export class CausalBuffer<T extends CausalItem> {
  private readonly delivered = new Set<string>();
  private readonly refused = new Set<string>();
  private readonly pending = new Map<string, { item: T; missing: number }>();
  private readonly waiters = new Map<string, string[]>();
  private readonly ready: T[] = [];
  private readonly deferred = new Map<string, T>();

  /** `accept` returns true to deliver, false to refuse for good, or 'defer' to hold the item for `retryDeferred`. */
  constructor(private readonly accept: (item: T) => boolean | 'defer' = () => true) {}

  isDelivered(id: string): boolean {
    return this.delivered.has(id);
  }

  isKnown(id: string): boolean {
    return this.delivered.has(id) || this.pending.has(id) || this.refused.has(id) || this.deferred.has(id);
  }

  deferredCount(): number {
    return this.deferred.size;
  }

  /** Judges the deferred items again; returns what is delivered as a result, in delivery order. */
  retryDeferred(): T[] {
    const items = [...this.deferred.values()];
    this.deferred.clear();
    for (const item of items) this.push(item);
    return this.drain();
  }

  /** Marks ids as already delivered (e.g. restored from the local store) without running `accept`. */
  markDelivered(ids: Iterable<string>): void {
    for (const id of ids) this.delivered.add(id);
  }

  /** Adds items and returns those delivered as a result, in delivery order. Duplicates are ignored. */
  add(items: Iterable<T>): T[] {
    for (const item of items) {
      if (this.isKnown(item.id)) continue;
      let missing = 0;
      const deps = item.deps;
      for (let i = 0; i < deps.length; i++) {
        // Each distinct dependency once (deps may repeat, and may include prev).
        if (deps.indexOf(deps[i]) === i) missing += this.wait(deps[i], item.id);
      }
      if (item.prev && !deps.includes(item.prev)) missing += this.wait(item.prev, item.id);
      this.pending.set(item.id, { item, missing });
      if (missing === 0) this.push(item);
    }
    return this.drain();
  }

  /** 0 if `dep` is delivered, else registers `id` as waiting for it and returns 1. */
  private wait(dep: string, id: string): number {
    if (this.delivered.has(dep)) return 0;
    const list = this.waiters.get(dep);
    if (list) list.push(id);
    else this.waiters.set(dep, [id]);
    return 1;
  }

  /** Ids that pending events wait for and that this buffer has never seen: what to fetch, or what was withheld. */
  missing(): string[] {
    const out: string[] = [];
    for (const dep of this.waiters.keys()) if (!this.isKnown(dep)) out.push(dep);
    return out.sort();
  }

  pendingCount(): number {
    return this.pending.size + this.deferred.size;
  }

  refusedIds(): string[] {
    return [...this.refused];
  }

  private drain(): T[] {
    const out: T[] = [];
    while (this.ready.length > 0) {
      const item = this.pop();
      this.pending.delete(item.id);
      const verdict = this.accept(item);
      if (verdict === 'defer') {
        this.deferred.set(item.id, item);
        continue;
      }
      if (!verdict) {
        this.refused.add(item.id);
        continue;
      }
      this.delivered.add(item.id);
      out.push(item);
      const waiting = this.waiters.get(item.id);
      if (!waiting) continue;
      this.waiters.delete(item.id);
      for (const wid of waiting) {
        const entry = this.pending.get(wid);
        if (entry && --entry.missing === 0) this.push(entry.item);
      }
    }
    return out;
  }

  // A binary min-heap on (lamport, id): ready sets can be large on a cold join.
  private push(item: T): void {
    const h = this.ready;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (compareEvents(h[parent], h[i]) <= 0) break;
      [h[parent], h[i]] = [h[i], h[parent]];
      i = parent;
    }
  }

  private pop(): T {
    const h = this.ready;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && compareEvents(h[l], h[m]) < 0) m = l;
        if (r < h.length && compareEvents(h[r], h[m]) < 0) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}
