import { describe, expect, it } from 'vitest';
import { parseOptions, UsageError } from '../../cli/command.js';
import { randomChannelId } from '../../protocol/keys.js';

const OPTIONS = {
  out: { type: 'string', short: 'o' },
  verbose: { type: 'boolean' },
  'twenty-character-opt': { type: 'boolean' },
} as const;
const dashed = '-' + 'A'.repeat(9) + '_-' + 'b'.repeat(10);

describe('parseOptions', () => {
  it('reads a channel id that starts with "-" as the positional it is, wherever it stands', () => {
    expect(dashed).toHaveLength(randomChannelId().length);
    expect(parseOptions([dashed, '-o', 'x.json'], OPTIONS)).toMatchObject({
      positionals: [dashed],
      values: { out: 'x.json' },
    });
    expect(parseOptions(['--verbose', dashed], OPTIONS)).toMatchObject({
      positionals: [dashed],
      values: { verbose: true },
    });
    expect(parseOptions(['-o', dashed, 'other'], OPTIONS)).toMatchObject({
      positionals: ['other'],
      values: { out: dashed },
    });
  });

  it('accepts every real channel id shape, and still refuses unknown flags', () => {
    for (let i = 0; i < 2000; i++) {
      const id = randomChannelId();
      expect(parseOptions([id], OPTIONS).positionals).toEqual([id]);
    }
    expect(() => parseOptions(['--nope'], OPTIONS)).toThrow(UsageError);
    expect(() => parseOptions(['-x'], OPTIONS)).toThrow(/Unknown option/);
    expect(() => parseOptions([dashed.slice(0, -1)], OPTIONS)).toThrow(UsageError);
    // An option whose name happens to be id-shaped stays an option.
    expect(parseOptions(['--twenty-character-opt'], OPTIONS).values).toMatchObject({ 'twenty-character-opt': true });
    expect(parseOptions(['--', '-q'], OPTIONS).positionals).toEqual(['-q']);
  });
});
