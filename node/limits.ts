/** Per-node posting limits: body size and a per-channel sliding-window rate. Pure; the clock is injectable. */

export const DEFAULT_BODY_LIMIT_BYTES = 50_000;
export const DEFAULT_RATE_PER_MIN = 60;

export interface Limits {
  bodyLimitBytes: number;
  ratePerMin: number;
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** Reads PARLEY_BODY_LIMIT_BYTES and PARLEY_RATE_LIMIT_PER_MIN; a malformed value is an error, not a silent default. */
export function limitsFromEnv(env: NodeJS.ProcessEnv): Limits {
  const read = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`${name} must be a positive integer, got "${raw}".`);
    return Number(raw);
  };
  return {
    bodyLimitBytes: read('PARLEY_BODY_LIMIT_BYTES', DEFAULT_BODY_LIMIT_BYTES),
    ratePerMin: read('PARLEY_RATE_LIMIT_PER_MIN', DEFAULT_RATE_PER_MIN),
  };
}

/** Null when the body fits, else the sentence to show the agent. Counts UTF-8 bytes, which is what gets sealed. */
export function checkBodySize(body: string, limit: number): string | null {
  const size = Buffer.byteLength(body, 'utf8');
  return size > limit ? `The message is ${fmt(size)} bytes; the limit is ${fmt(limit)} bytes.` : null;
}

export type Take = { ok: true } | { ok: false; retryAfterMs: number };

/** At most `limit` takes per key in any `windowMs`; a refused take does not count. */
export class RateLimiter {
  private readonly hits = new Map<string, number[]>();
  constructor(
    private readonly opts: { limit: number; windowMs: number },
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string): Take {
    const t = this.now();
    const recent = (this.hits.get(key) ?? []).filter((h) => h > t - this.opts.windowMs);
    if (recent.length >= this.opts.limit) {
      this.hits.set(key, recent);
      return { ok: false, retryAfterMs: recent[0] + this.opts.windowMs - t };
    }
    recent.push(t);
    this.hits.set(key, recent);
    return { ok: true };
  }
}
