/**
 * The tests' one way to wait: poll a condition until it holds, never sleep a fixed time. Polls quickly at first
 * (10 ms, doubling up to 150 ms), so a fast condition costs little and a slow one does not spin. On timeout it
 * throws with `what` and the last value seen.
 *
 *   await until(() => reader.log.size === 4)                                  // a condition
 *   const v = await until(() => node.call('verify_channel', …), (v) => !v.ok)  // a value, once it is right
 */
export interface UntilOptions {
  /** Give up after this many milliseconds (default 30 s, well under the tests' 60 s timeout). */
  ms?: number;
  /** What is awaited, for the error message. */
  what?: string;
}

const DEFAULT_MS = 30_000;

// The value forms come first: TypeScript fixes a contextually typed probe's inference at the first overload it tries.
export function until<T, U extends T>(
  probe: () => T | Promise<T>,
  ok: (v: T) => v is U,
  options?: UntilOptions | number,
): Promise<U>;
export function until<T>(
  probe: () => T | Promise<T>,
  ok: (v: T) => boolean,
  options?: UntilOptions | number,
): Promise<T>;
export function until(cond: () => boolean | Promise<boolean>, options?: UntilOptions | number): Promise<void>;
export async function until<T>(
  probe: () => T | Promise<T>,
  second?: ((v: T) => boolean) | UntilOptions | number,
  third?: UntilOptions | number,
): Promise<T | void> {
  const ok = typeof second === 'function' ? second : (v: T) => Boolean(v);
  const raw = typeof second === 'function' ? third : second;
  const options = typeof raw === 'number' ? { ms: raw } : (raw ?? {});
  const deadline = Date.now() + (options.ms ?? DEFAULT_MS);
  let pause = 10;
  for (;;) {
    const v = await probe();
    if (ok(v)) return typeof second === 'function' ? v : undefined;
    if (Date.now() > deadline) {
      const shown = typeof v === 'string' ? v : JSON.stringify(v);
      const what = options.what ? ` for ${options.what}` : '';
      throw new Error(`timed out waiting${what}; last value: ${String(shown).slice(0, 500)}`);
    }
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 150);
  }
}
