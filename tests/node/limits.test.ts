import { describe, expect, it } from 'vitest';
import { checkBodySize, limitsFromEnv, RateLimiter } from '../../node/limits.js';

describe('limits', () => {
  it('reads limits from the environment with defaults', () => {
    expect(limitsFromEnv({})).toEqual({ bodyLimitBytes: 50_000, ratePerMin: 60 });
    expect(limitsFromEnv({ PARLEY_BODY_LIMIT_BYTES: '1000', PARLEY_RATE_LIMIT_PER_MIN: '5' })).toEqual({
      bodyLimitBytes: 1000,
      ratePerMin: 5,
    });
    expect(() => limitsFromEnv({ PARLEY_RATE_LIMIT_PER_MIN: 'lots' })).toThrow(
      /PARLEY_RATE_LIMIT_PER_MIN must be a positive integer/,
    );
  });

  it('measures UTF-8 bytes and explains the limit', () => {
    expect(checkBodySize('a'.repeat(1000), 1000)).toBeNull();
    expect(checkBodySize('é'.repeat(1000), 1000)).toBe('The message is 2,000 bytes; the limit is 1,000 bytes.');
  });

  it('allows `limit` takes per window per key and says when to retry', () => {
    let t = 0;
    const rl = new RateLimiter({ limit: 3, windowMs: 60_000 }, () => t);
    expect([rl.take('a'), rl.take('a'), rl.take('a')].every((r) => r.ok)).toBe(true);
    expect(rl.take('b').ok).toBe(true);
    t = 10_000;
    expect(rl.take('a')).toEqual({ ok: false, retryAfterMs: 50_000 });
    t = 60_001;
    expect(rl.take('a').ok).toBe(true);
  });
});
