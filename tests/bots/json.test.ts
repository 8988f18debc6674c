import { describe, expect, it } from 'vitest';
import { canonicalString } from '../../protocol/canonical.js';
import { jsonEqual } from '../../bots/json.js';
import { encodable } from '../../protocol/canonical-fast.js';
import { prngState } from '../../bots/seed.js';
import { mulberry32 as prng } from '../helpers/random.js';

const canonicalOk = (v: unknown): boolean => {
  try {
    canonicalString(v);
    return true;
  } catch {
    return false;
  }
};

const nest = (depth: number, leaf: unknown): unknown => (depth === 0 ? leaf : [nest(depth - 1, leaf)]);

// Tricky pairs: each value as JSON text, so both sides are what JSON.parse yields (the only inputs these see).
const TEXTS = [
  'null',
  'true',
  'false',
  '0',
  '-0',
  '1',
  '1.5',
  '1e21',
  '9007199254740991',
  '9007199254740992',
  '-9007199254740993',
  '1e300',
  '""',
  '"a"',
  '"\\u00e9"',
  '"é"',
  '"\\ud800"',
  '[]',
  '{}',
  '[null]',
  '[[]]',
  '[{}]',
  '{"a":1}',
  '{"a":1,"b":2}',
  '{"b":2,"a":1}',
  '{"a":1,"b":null}',
  '{"a":[1,2]}',
  '{"a":[2,1]}',
  '{"__proto__":1}',
  '{"__proto__":{}}',
  '{"constructor":1}',
  '{"":0}',
  '{"1":1,"a":2}',
  '{"a":{"b":{"c":[1,{"d":"e"}]}}}',
  '[1,"1"]',
  '["1",1]',
  '[true,1]',
  '[0,false]',
  '[null,0]',
  '["",null]',
];

describe('bot replay JSON checks agree with canonical JSON', () => {
  it('jsonEqual(a, b) exactly when the canonical texts are equal', () => {
    const values = TEXTS.filter((t) => canonicalOk(JSON.parse(t))).map((t) => JSON.parse(t));
    let equalPairs = 0;
    for (const a of values) {
      for (const b of values) {
        const same = canonicalString(a) === canonicalString(b);
        expect(jsonEqual(a, b), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(same);
        if (same) equalPairs++;
      }
    }
    // -0 and 0, and the two key orders of {a,b}, are equal pairs beyond the diagonal.
    expect(equalPairs).toBeGreaterThan(values.length);
  });

  it('jsonEqual never equates values of different shapes', () => {
    expect(jsonEqual([], {})).toBe(false);
    expect(jsonEqual({ 0: 1 }, [1])).toBe(false);
    expect(jsonEqual({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(jsonEqual({ a: undefined }, { b: undefined })).toBe(false);
    expect(jsonEqual(null, {})).toBe(false);
    expect(jsonEqual(undefined, null)).toBe(false);
  });

  it('encodable(v) exactly when canonicalString(v) succeeds', () => {
    for (const t of TEXTS) {
      const v = JSON.parse(t);
      expect(encodable(v), t).toBe(canonicalOk(v));
    }
    for (const depth of [63, 64, 65, 66]) {
      for (const leaf of [1, [], {}, 2 ** 60]) {
        const v = nest(depth, leaf);
        expect(encodable(v), `depth ${depth}, leaf ${JSON.stringify(leaf)}`).toBe(canonicalOk(v));
      }
    }
    for (const v of [undefined, () => 1, 1n, NaN, Infinity]) expect(encodable(v)).toBe(canonicalOk(v));
  });
});

describe('prngState', () => {
  // The guest PRNG as the prelude seeded it before the host took over: parse the 128 leading bits, 12 rounds.
  function guestSeed(hex: string): number[] {
    let a = parseInt(hex.slice(0, 8), 16),
      b = parseInt(hex.slice(8, 16), 16),
      c = parseInt(hex.slice(16, 24), 16),
      d = parseInt(hex.slice(24, 32), 16);
    for (let i = 0; i < 12; i++) {
      a |= 0;
      b |= 0;
      c |= 0;
      d |= 0;
      const t = (((a + b) | 0) + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (c << 21) | (c >>> 11);
      c = (c + t) | 0;
    }
    return [a | 0, b | 0, c | 0, d | 0];
  }

  it('equals the guest-side seeding on random and extreme inputs', () => {
    const rnd = prng(11);
    const hexes = ['0'.repeat(64), 'f'.repeat(64), '80000000'.repeat(8), '7fffffff'.repeat(8)];
    for (let i = 0; i < 200; i++)
      hexes.push(Array.from({ length: 64 }, () => Math.floor(rnd() * 16).toString(16)).join(''));
    for (const h of hexes) expect(prngState(h), h).toEqual(guestSeed(h));
  });

  it('refuses anything but 64 hex characters', () => {
    expect(() => prngState('abc')).toThrow(/64 lowercase hex/);
    expect(() => prngState('G'.repeat(64))).toThrow(/64 lowercase hex/);
  });
});
