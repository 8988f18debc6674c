import { describe, expect, it } from 'vitest';
import { canonicalString, decodeCanonical, CanonicalError } from '../../protocol/canonical.js';

describe('canonical JSON', () => {
  it('sorts keys, drops whitespace, normalises -0', () => {
    expect(canonicalString({ b: 1, a: [true, null, 'x'], c: { z: 0, y: -0 } })).toBe(
      '{"a":[true,null,"x"],"b":1,"c":{"y":0,"z":0}}',
    );
  });

  it('sorts by UTF-16 code units', () => {
    expect(canonicalString({ é: 1, z: 2, Z: 3, '\u{1F600}': 4, '\uFFFF': 5 })).toBe(
      '{"Z":3,"z":2,"é":1,"\u{1F600}":4,"\uFFFF":5}',
    );
  });

  it('writes non-integers in shortest round-trip form', () => {
    expect(canonicalString([0.1, -2.5, 1.5e-7, 123.456])).toBe('[0.1,-2.5,1.5e-7,123.456]');
  });

  it.each([
    [NaN, 'non-finite'],
    [Infinity, 'non-finite'],
    [2 ** 53, 'safe range'],
    [undefined, 'unsupported'],
    [() => 1, 'unsupported'],
    [10n, 'unsupported'],
    [new Date(0), 'plain objects'],
  ])('rejects %s', (value, message) => {
    expect(() => canonicalString({ value })).toThrow(message);
  });

  it('rejects cycles and excessive depth', () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    expect(() => canonicalString(a)).toThrow(CanonicalError);
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(() => canonicalString(deep)).toThrow('nesting');
  });

  it('decodes only canonical text', () => {
    expect(decodeCanonical('{"a":1,"b":[2]}')).toEqual({ a: 1, b: [2] });
    // A byte-order mark in front of canonical bytes is another byte form of the same value: refused.
    expect(() => decodeCanonical(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]))).toThrow(CanonicalError);
    expect(decodeCanonical(new Uint8Array([0x7b, 0x7d]))).toEqual({});
    for (const bad of ['{"b":1,"a":2}', '{ "a":1}', '{"a":1.0}', '{"a":1,"a":1}', 'nul', '"\\u0041"']) {
      expect(() => decodeCanonical(bad), bad).toThrow(CanonicalError);
    }
    expect(() => decodeCanonical(new Uint8Array([0xff, 0xfe]))).toThrow('UTF-8');
  });

  it('round-trips random values exactly', () => {
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const gen = (d: number): unknown => {
      const r = rnd();
      if (d > 3 || r < 0.3)
        return [
          null,
          true,
          Math.floor(rnd() * 1e6) - 5e5,
          rnd() * 100,
          String.fromCharCode(Math.floor(rnd() * 0xffff)),
        ][Math.floor(rnd() * 5)];
      if (r < 0.6) return Array.from({ length: Math.floor(rnd() * 4) }, () => gen(d + 1));
      return Object.fromEntries(
        Array.from({ length: Math.floor(rnd() * 4) }, (_, i) => [`k${Math.floor(rnd() * 100)}${i}`, gen(d + 1)]),
      );
    };
    for (let i = 0; i < 500; i++) {
      const text = canonicalString(gen(0));
      expect(canonicalString(decodeCanonical(text))).toBe(text);
    }
  });
});
