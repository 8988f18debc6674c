import { describe, expect, it } from 'vitest';
import { ChainTracker } from '../../protocol/chain.js';
import { CausalBuffer, type CausalItem } from '../../protocol/causal.js';

describe('author chains', () => {
  it('accepts a chain, detects a bad prev and equivocation', () => {
    const t = new ChainTracker();
    expect(t.check({ id: 'a1', author: 'A', seq: 1, prev: null })).toBe('ok');
    expect(t.check({ id: 'a2', author: 'A', seq: 2, prev: 'a1' })).toBe('ok');
    expect(t.check({ id: 'a2x', author: 'A', seq: 2, prev: 'a1' })).toBe('equivocation');
    expect(t.equivocating()).toEqual(['A']);
    expect(t.check({ id: 'a4', author: 'A', seq: 4, prev: 'a2' })).toBe('bad-prev');
    expect(t.check({ id: 'b2', author: 'B', seq: 2, prev: 'a1' })).toBe('bad-prev');
    expect(t.head('A')).toEqual({ id: 'a2', seq: 2 });
  });

  it('takes as prev only the event recorded at the same author and the seq before', () => {
    const t = new ChainTracker();
    expect(t.check({ id: 'a1', author: 'A', seq: 1, prev: null })).toBe('ok');
    expect(t.check({ id: 'b1', author: 'B', seq: 1, prev: null })).toBe('ok');
    expect(t.check({ id: 'a2', author: 'A', seq: 2, prev: 'b1' })).toBe('bad-prev');
    expect(t.check({ id: 'a1b', author: 'A', seq: 1, prev: 'a1' })).toBe('equivocation');
    expect(t.check({ id: 'b2', author: 'B', seq: 1, prev: 'b1' })).toBe('equivocation');
    expect(t.check({ id: 'c1', author: 'C', seq: 1, prev: 'a1' })).toBe('bad-prev');
    expect(t.check({ id: 'c2', author: 'C', seq: 2, prev: 'c1' })).toBe('bad-prev');
    expect(t.check({ id: 'c1', author: 'C', seq: 2, prev: null })).toBe('bad-prev');
    expect(t.check({ id: 'x', author: 'A', seq: 3, prev: 'a1' })).toBe('bad-prev');
    expect(t.check({ id: 'a2', author: 'A', seq: 2, prev: 'a1' })).toBe('ok');
    expect(t.check({ id: 'a2', author: 'A', seq: 2, prev: 'a1' })).toBe('ok');
    expect(t.head('A')).toEqual({ id: 'a2', seq: 2 });
  });

  it('reports a gap as a missing prev in causal delivery', () => {
    const buf = new CausalBuffer<CausalItem>();
    buf.add([{ id: 'a1', lamport: 1, deps: [], prev: null }]);
    expect(buf.add([{ id: 'a3', lamport: 3, deps: [], prev: 'a2' }])).toEqual([]);
    expect(buf.missing()).toEqual(['a2']);
  });
});

/** Seeded random DAG: each author's chain plus random deps on earlier events. */
function randomDag(seed: number, n: number): (CausalItem & { author: number })[] {
  let s = seed;
  const rnd = () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
  const events: (CausalItem & { author: number })[] = [];
  const last = new Map<number, string>();
  for (let i = 0; i < n; i++) {
    const author = Math.floor(rnd() * 4);
    const deps = new Set<string>();
    for (let k = 0; k < 2 && events.length > 0; k++) deps.add(events[Math.floor(rnd() * events.length)].id);
    const prev = last.get(author) ?? null;
    const lamport =
      1 + Math.max(0, ...[...deps, ...(prev ? [prev] : [])].map((d) => events.find((e) => e.id === d)!.lamport));
    const id = `e${String(i).padStart(4, '0')}`;
    events.push({ id, lamport, deps: [...deps].sort(), prev, author });
    last.set(author, id);
  }
  return events;
}

describe('causal delivery', () => {
  it.each([1, 2, 3, 4, 5])('delivers shuffled input in a valid causal order (seed %i)', (seed) => {
    const events = randomDag(seed, 300);
    let s = seed * 7919;
    const shuffled = [...events].sort(() => {
      s = (s * 16807) % 2147483647;
      return s / 2147483647 - 0.5;
    });
    const buf = new CausalBuffer<(typeof events)[number]>();
    const out: string[] = [];
    for (let i = 0; i < shuffled.length; i += 13) out.push(...buf.add(shuffled.slice(i, i + 13)).map((e) => e.id));
    expect(out.length).toBe(events.length);
    expect(new Set(out).size).toBe(events.length);
    const pos = new Map(out.map((id, i) => [id, i]));
    for (const e of events) {
      for (const d of [...e.deps, ...(e.prev ? [e.prev] : [])]) expect(pos.get(d)!).toBeLessThan(pos.get(e.id)!);
    }
    expect(buf.pendingCount()).toBe(0);
  });

  it('never delivers dependents of a refused event', () => {
    const buf = new CausalBuffer<CausalItem>((e) => e.id !== 'bad');
    const out = buf.add([
      { id: 'bad', lamport: 1, deps: [], prev: null },
      { id: 'child', lamport: 2, deps: ['bad'], prev: null },
      { id: 'ok', lamport: 1, deps: [], prev: null },
    ]);
    expect(out.map((e) => e.id)).toEqual(['ok']);
    expect(buf.refusedIds()).toEqual(['bad']);
    expect(buf.isDelivered('child')).toBe(false);
  });

  it('holds a deferred event and its dependents until retried, then delivers them', () => {
    let open = false;
    const buf = new CausalBuffer<CausalItem>((e) => (e.id === 'early' && !open ? 'defer' : true));
    const out = buf.add([
      { id: 'early', lamport: 1, deps: [], prev: null },
      { id: 'child', lamport: 2, deps: ['early'], prev: null },
    ]);
    expect(out).toEqual([]);
    expect(buf.isKnown('early')).toBe(true);
    expect(buf.pendingCount()).toBe(2);
    expect(buf.add([{ id: 'early', lamport: 1, deps: [], prev: null }])).toEqual([]);
    open = true;
    expect(buf.retryDeferred().map((e) => e.id)).toEqual(['early', 'child']);
    expect(buf.pendingCount()).toBe(0);
  });

  it('ignores duplicates', () => {
    const buf = new CausalBuffer<CausalItem>();
    const e = { id: 'x', lamport: 1, deps: [], prev: null };
    expect(buf.add([e, e]).length).toBe(1);
    expect(buf.add([e]).length).toBe(0);
  });
});
