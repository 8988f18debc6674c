/** Integer options for the benchmarks: `--name N` or `--name=N`; unknown options are an error, not ignored. */
import { parseArgs } from 'node:util';

export function intOptions<K extends string>(
  args: string[],
  defaults: Record<K, number>,
  flags: string[] = [],
): Record<K, number> & { flags: Set<string> } {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const k of Object.keys(defaults)) options[k] = { type: 'string' };
  for (const f of flags) options[f] = { type: 'boolean' };
  const { values } = parseArgs({ args, options, allowPositionals: false, strict: true });
  const out = { ...defaults, flags: new Set<string>() } as Record<K, number> & { flags: Set<string> };
  for (const [k, v] of Object.entries(values)) {
    if (typeof v === 'boolean') {
      if (v) out.flags.add(k);
      continue;
    }
    const n = Number(v);
    if (!/^\d+$/.test(String(v)) || !Number.isSafeInteger(n))
      throw new Error(`--${k} must be a non-negative integer, got "${String(v)}"`);
    (out as Record<string, number>)[k] = n;
  }
  return out;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Rejects with `message` if `p` has not settled within `ms`; the timer never outlives the race. */
export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
