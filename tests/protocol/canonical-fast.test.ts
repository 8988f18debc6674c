/**
 * decodeCanonicalFast must give decodeCanonical's verdict on every input: the same value when it accepts, the same
 * error when it rejects. Adversarial cases first, then mutations of random canonical texts.
 */
import { describe, expect, it } from 'vitest';
import { canonicalString, decodeCanonical } from '../../protocol/canonical.js';
import { decodeCanonicalFast } from '../../protocol/canonical-fast.js';
import { mulberry32 } from '../helpers/random.js';

function outcome(
  decode: (input: string | Uint8Array) => unknown,
  input: string | Uint8Array,
): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: decode(input) };
  } catch (err) {
    return { ok: false, error: `${(err as Error).name}: ${(err as Error).message}` };
  }
}

function same(input: string | Uint8Array): boolean {
  const slow = outcome(decodeCanonical, input);
  const fast = outcome(decodeCanonicalFast, input);
  expect(
    fast,
    typeof input === 'string' ? input.slice(0, 200) : `bytes ${Buffer.from(input).toString('hex').slice(0, 200)}`,
  ).toEqual(slow);
  return slow.ok;
}

const nest = (n: number, inner: string, open = '[', close = ']') => open.repeat(n) + inner + close.repeat(n);

const ADVERSARIAL: string[] = [
  // key order: integer-like keys (V8 lists them first, numerically), code-unit order, duplicates
  '{"10":1,"9":2}',
  '{"9":2,"10":1}',
  '{"1":1,"a":2}',
  '{"a":2,"1":1}',
  '{"0":0,"00":1}',
  '{"00":1,"0":0}',
  '{"4294967295":1,"4294967294":2}',
  '{"4294967294":2,"4294967295":1}',
  '{"-1":1,"1":2}',
  '{"1.5":1,"1":2}',
  '{"a":1,"a":1}',
  '{"a":1,"a":2}',
  '{"b":1,"a":2}',
  '{"Z":1,"a":2}',
  '{"a":2,"Z":1}',
  '{"é":1,"z":2}',
  '{"z":2,"é":1}',
  '{"\uD83D\uDE00":1,"\uFFFF":2}',
  '{"\uFFFF":2,"\uD83D\uDE00":1}',
  '{"":1,"a":2}',
  '{"a":2,"":1}',
  '{"__proto__":1}',
  '{"__proto__":{"a":1},"b":2}',
  '{"constructor":1,"toJSON":2}',
  '{"toJSON":"x"}',
  '{"a":{"toJSON":1}}',
  // numbers
  '1',
  '-0',
  '0',
  '-0.0',
  '0.0',
  '1.0',
  '1e2',
  '100',
  '1E2',
  '1e+2',
  '0.1',
  '.1',
  '01',
  '+1',
  '-1',
  '1.5e-7',
  '1.5e-07',
  '123.456',
  '9007199254740991',
  '9007199254740992',
  '-9007199254740991',
  '-9007199254740992',
  '1e400',
  '-1e400',
  '1e21',
  '1000000000000000000000',
  '1e-7',
  '0.0000001',
  '5e-324',
  '2e-324',
  '1.7976931348623157e308',
  '[1e400]',
  '{"a":1e400}',
  '[9007199254740993]',
  '[0.30000000000000004]',
  '[0.1e1]',
  // strings and escapes
  '"a"',
  '"\\u0041"',
  '"\\/"',
  '"/"',
  '"\\u001f"',
  '"\\u001F"',
  '"\\b"',
  '"\\u0008"',
  '"\\n"',
  '"\\u000a"',
  '"\\""',
  '"\\\\"',
  '"\\ud800"',
  '"\\uD800"',
  '"\uD800"',
  '"\\udc00\\ud800"',
  '"\\ud83d\\ude00"',
  '"\uD83D\uDE00"',
  '"\u2028"',
  '"\\u2028"',
  '"\u007f"',
  '"\\u007f"',
  '"\u0000"',
  '"\\u0000"',
  '"\t"',
  '"\\t"',
  '"\\x41"',
  '"\\a"',
  // structure and whitespace
  'null',
  'true',
  'false',
  'nul',
  'True',
  '[]',
  '{}',
  '[ ]',
  '{ }',
  ' 1',
  '1 ',
  '[1,2]',
  '[1, 2]',
  '[1,2,]',
  '{"a":1,}',
  '{"a" :1}',
  '{"a":1}\n',
  '\uFEFF{"a":1}',
  '',
  ' ',
  '[',
  '{"a":[1,{"b":null}],"c":"d"}',
  '{"c":"d","a":[1,{"b":null}]}',
  '{"a":{"c":1,"b":2}}',
  '[{"b":1,"a":2}]',
  '[[[{"10":1,"9":2}]]]',
  // depth around the limit (64)
  nest(63, '1'),
  nest(64, '1'),
  nest(65, '1'),
  nest(64, '[]'),
  nest(64, '{}'),
  nest(63, '{"a":1}'),
  nest(64, '{"a":1}'),
  nest(200, '1'),
  nest(64, '"x"'),
];

describe('decodeCanonicalFast', () => {
  it('agrees with decodeCanonical on adversarial texts', () => {
    let accepted = 0;
    for (const text of ADVERSARIAL) if (same(text)) accepted++;
    expect(accepted).toBeGreaterThan(20);
    expect(() => decodeCanonicalFast('{"9":2,"10":1}')).toThrow('not in canonical form');
    expect(decodeCanonicalFast('{"10":1,"9":2}')).toEqual({ 9: 2, 10: 1 });
  });

  it('agrees on raw bytes: invalid UTF-8, overlong forms, surrogates, a byte-order mark', () => {
    const cases = [
      [0xff, 0xfe],
      [0x22, 0xc0, 0xaf, 0x22],
      [0x22, 0xe0, 0x80, 0xaf, 0x22],
      [0x22, 0xed, 0xa0, 0x80, 0x22],
      [0x22, 0xf4, 0x90, 0x80, 0x80, 0x22],
      [0x22, 0xc3, 0x22],
      [0xef, 0xbb, 0xbf, 0x31],
      [0xef, 0xbb, 0xbf, 0x7b, 0x7d],
      [0x22, 0xc3, 0xa9, 0x22],
      [0x31, 0x00],
    ];
    for (const c of cases) same(new Uint8Array(c));
    same(new TextEncoder().encode('{"a":"é"}'));
  });

  // Long: the generator's pools and mutations are its data; the check itself is a few lines.
  it('agrees on random canonical texts and their mutations', () => {
    const rnd = mulberry32(0x9e3779b9);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
    const keyPool = [
      'a',
      'b',
      'Z',
      'é',
      '0',
      '1',
      '9',
      '10',
      '01',
      '-1',
      '__proto__',
      'toJSON',
      '',
      '\u2028',
      '\uD83D\uDE00',
      '\uFFFF',
      '"',
      '\\',
      'k\u0001',
    ];
    const numPool = [0, -0, 1, -1, 0.1, 1.5e-7, 123456.789e10 + 0.5, 123.456, 2 ** 53 - 1, -(2 ** 53 - 1), 5e-324];
    const strPool = [
      '',
      'x',
      '"',
      '\\',
      '/',
      '\n',
      '\u0000',
      '\u001f',
      '\u007f',
      '\u2028',
      '\uD800',
      '\uDC00',
      '\uD83D\uDE00',
      'é',
    ];
    const gen = (d: number): unknown => {
      const r = rnd();
      if (d > 4 || r < 0.35)
        return pick<unknown>([
          null,
          true,
          false,
          pick(numPool),
          pick(strPool),
          Math.floor(rnd() * 1e9) - 5e8,
          rnd() * 100,
        ]);
      if (r < 0.6) return Array.from({ length: Math.floor(rnd() * 4) }, () => gen(d + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 5) }, () => [pick(keyPool), gen(d + 1)]));
    };
    const mutate = (text: string): string => {
      const i = Math.floor(rnd() * (text.length + 1));
      switch (Math.floor(rnd() * 6)) {
        case 0:
          return text.slice(0, i) + text.slice(i + 1);
        case 1:
          return (
            text.slice(0, i) +
            pick([' ', '0', '"', ',', '\\', 'e', '-', '.', '}', ']', '1', '\u00e9', '\uD800']) +
            text.slice(i)
          );
        case 2:
          return text.slice(0, i) + pick(['\\u0041', '\\/', '\\u00e9', '.0', 'e0', ',"a":1', '"a":1,']) + text.slice(i);
        case 3:
          return JSON.stringify(JSON.parse(text)); // engine key order, not canonical order
        case 4:
          return text.replace(/\d/, pick(['0', '9', '1e1', '-0']));
        default:
          return text.slice(0, i) + String.fromCharCode(Math.floor(rnd() * 0x80)) + text.slice(i + 1);
      }
    };
    let accepted = 0;
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const text = canonicalString(gen(0));
      if (same(text)) accepted++;
      for (let k = 0; k < 4; k++) if (!same(mutate(text))) rejected++;
    }
    expect(accepted).toBe(3000);
    expect(rejected).toBeGreaterThan(1000);
  });
});
