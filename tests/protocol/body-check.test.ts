/**
 * fastBody may only ever say yes where EventBodySchema says yes (with the same value); everything else is left to
 * the schema. isB64uOf must accept exactly what isB64u accepts.
 */
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, EventBodySchema, MAX_DEPS } from '../../protocol/event.js';
import { fastBody, isB64uOf } from '../../protocol/body-check.js';
import { isB64u, toB64u } from '../../protocol/bytes.js';
import { mulberry32 } from '../helpers/random.js';

const rnd = mulberry32(12345);
const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];

const ID = () => toB64u(bytes(32));
const base = (): Record<string, unknown> => {
  const deps = [ID(), ID(), ID()].sort();
  return JSON.parse(
    JSON.stringify({
      author: ID(),
      ch: toB64u(bytes(16)),
      deps,
      ep: 3,
      lamport: 9,
      payload: { body: 'hi', kind: 'chat' },
      prev: ID(),
      seq: 4,
      ts: 1700000000000,
      type: 'message',
      v: 1,
    }),
  );
};

/** The property that matters: a fast yes is a schema yes with an equal value. */
function sound(value: unknown): boolean {
  const fast = fastBody(value);
  const zod = EventBodySchema.safeParse(value);
  if (fast) {
    expect(zod.success, JSON.stringify(value)).toBe(true);
    expect(fast).toEqual(zod.data);
  }
  return fast !== null;
}

describe('fastBody', () => {
  it('uses the same event types and dependency limit as the schema', () => {
    for (const type of EVENT_TYPES) expect(sound({ ...base(), type })).toBe(true);
    const deps = Array.from({ length: MAX_DEPS }, ID).sort();
    expect(sound({ ...base(), deps })).toBe(true);
    expect(sound({ ...base(), deps: [...deps, ID()].sort() })).toBe(false);
  });

  it('accepts ordinary bodies (the fast path is taken)', () => {
    expect(sound(base())).toBe(true);
    expect(sound({ ...base(), seq: 1, prev: null, deps: [] })).toBe(true);
    expect(sound({ ...base(), payload: {} })).toBe(true);
  });

  // Long: most of it is the table of adversarial bodies.
  it('says yes only where the schema does, on adversarial bodies', () => {
    const b = base();
    const id = ID();
    const cases: unknown[] = [
      null,
      1,
      'x',
      [],
      [b],
      { ...b, extra: 1 },
      { ...b, __proto__: null },
      Object.assign(Object.create(null), b),
      JSON.parse(JSON.stringify({ ...b }).replace('{', '{"__proto__":1,')),
      { ...b, v: 2 },
      { ...b, v: '1' },
      { ...b, v: 1.0000001 },
      { ...b, v: true },
      { ...b, ch: toB64u(bytes(15)) },
      { ...b, ch: toB64u(bytes(17)) },
      { ...b, ch: 'A'.repeat(22) },
      { ...b, ch: 'A'.repeat(21) + 'B' },
      { ...b, ch: 'A'.repeat(21) + 'Q' },
      { ...b, ch: 'A'.repeat(21) + '=' },
      { ...b, ch: 'A'.repeat(20) + '+/' },
      { ...b, ch: 1 },
      { ...b, ep: -1 },
      { ...b, ep: 0xffffffff },
      { ...b, ep: 0x100000000 },
      { ...b, ep: 1.5 },
      { ...b, ep: '1' },
      { ...b, ep: -0 },
      { ...b, ep: NaN },
      { ...b, ep: Infinity },
      { ...b, type: 'nope' },
      { ...b, type: 'Message' },
      { ...b, type: 'constructor' },
      { ...b, type: 'toString' },
      { ...b, type: '__proto__' },
      { ...b, type: ['message'] },
      { ...b, author: id.slice(1) },
      { ...b, author: id + 'A' },
      { ...b, author: id.slice(0, 42) + 'B' },
      { ...b, author: id.slice(0, 42) + 'E' },
      { ...b, author: id.slice(0, 42) + '\u00e9' },
      { ...b, author: null },
      { ...b, author: toB64u(bytes(33)) },
      { ...b, seq: 0 },
      { ...b, seq: 1 },
      { ...b, seq: 2 ** 53 },
      { ...b, seq: 2 ** 53 - 1 },
      { ...b, seq: 4.5 },
      { ...b, seq: '4' },
      { ...b, prev: null },
      { ...b, seq: 1, prev: id },
      { ...b, seq: 1, prev: null },
      { ...b, prev: 'x' },
      { ...b, prev: undefined },
      { ...b, deps: 'x' },
      { ...b, deps: [id, id] },
      { ...b, deps: [...(b.deps as string[])].reverse() },
      { ...b, deps: ['x'] },
      { ...b, deps: [null] },
      { ...b, deps: {} },
      { ...b, lamport: 0 },
      { ...b, lamport: -1 },
      { ...b, lamport: 2 ** 53 },
      { ...b, ts: -1 },
      { ...b, ts: 0 },
      { ...b, ts: 1e300 },
      { ...b, ts: 0.5 },
      { ...b, payload: null },
      { ...b, payload: [] },
      { ...b, payload: 'x' },
      { ...b, payload: new Date(0) },
      { ...b, payload: Object.create(null) },
      { ...b, payload: JSON.parse('{"__proto__":{"a":1},"b":2}') },
      { ...b, payload: { nested: { __proto__: 1 } } },
    ];
    const missing = Object.keys(b).map((k) => Object.fromEntries(Object.entries(b).filter(([x]) => x !== k)));
    const reordered = Object.fromEntries(Object.entries(b).reverse());
    for (const c of [...cases, ...missing, reordered]) sound(c);
  });

  it('says yes only where the schema does, on random field mutations', () => {
    const values: unknown[] = [
      null,
      0,
      1,
      -1,
      2 ** 32,
      2 ** 53,
      1.5,
      '',
      'x',
      true,
      [],
      {},
      ID(),
      toB64u(bytes(16)),
      'message',
      'bot.step',
    ];
    let yes = 0;
    for (let i = 0; i < 5000; i++) {
      const b = base();
      if (rnd() < 0.3) Object.assign(b, { seq: 1, prev: null });
      for (let k = Math.floor(rnd() * 3); k > 0; k--) b[pick(Object.keys(b))] = pick(values);
      if (sound(b)) yes++;
    }
    expect(yes).toBeGreaterThan(500);
  });
});

describe('isB64uOf', () => {
  it('accepts exactly what isB64u accepts', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (const n of [1, 2, 3, 16, 32]) {
      for (let i = 0; i < 300; i++) {
        const good = toB64u(bytes(n));
        const candidates = [
          good,
          good.slice(1),
          good + 'A',
          good + '=',
          good.slice(0, -1) + pick([...alphabet, '+', '/', '=', '.', '\u00e9', '\uD800']),
        ];
        const j = Math.floor(rnd() * good.length);
        candidates.push(good.slice(0, j) + pick([...alphabet, '+', '/', ' ', '\n']) + good.slice(j + 1));
        for (const c of candidates) expect(isB64uOf(c, n), `${n} ${c}`).toBe(isB64u(c, n));
      }
      for (const last of alphabet) {
        const text = toB64u(bytes(n)).slice(0, -1) + last;
        expect(isB64uOf(text, n), `${n} ${text}`).toBe(isB64u(text, n));
      }
    }
    for (const x of [null, undefined, 1, {}, ['A'.repeat(43)]]) expect(isB64uOf(x, 32)).toBe(false);
  });
});
