/** The shape every `parley <command>` module exports, and the shared argument parsing. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Command {
  summary: string;
  usage: string;
  /** Returns the process exit code. Throwing a UsageError prints usage and exits 2. */
  run(argv: string[]): Promise<number>;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

/** A channel id (16 bytes, base64url) that starts with '-', which parseArgs would otherwise read as a flag. */
const DASHED_ID = /^-[A-Za-z0-9_-]{21}$/;

/**
 * Parses options strictly; unknown flags or missing values become a UsageError with node's one-line reason.
 * One in 64 channel ids starts with '-': such an argument (unless it names one of the command's options) is kept
 * aside while parsing and put back as the value it was, so `parley export -Ab…` works without `--`.
 */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  allowPositionals = true,
) {
  const kept = new Map<string, string>();
  const args = argv.map((a, i) => {
    if (!DASHED_ID.test(a) || (a.startsWith('--') && Object.hasOwn(options, a.slice(2)))) return a;
    const stand = `\u0000${i}`;
    kept.set(stand, a);
    return stand;
  });
  const restore = (v: unknown) => (typeof v === 'string' ? (kept.get(v) ?? v) : v);
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { help: { type: 'boolean', short: 'h' }, ...options },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (kept.size === 0) return parsed;
  const values = parsed.values as Record<string, unknown>;
  for (const k of Object.keys(values))
    values[k] = Array.isArray(values[k]) ? (values[k] as unknown[]).map(restore) : restore(values[k]);
  return { ...parsed, positionals: parsed.positionals.map((p) => kept.get(p) ?? p) };
}

export function parsePort(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`--port must be an integer 0-65535, got "${text}"`);
  return port;
}
