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

/** Parses options strictly; unknown flags or missing values become a UsageError with node's one-line reason. */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function parsePort(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`--port must be an integer 0-65535, got "${text}"`);
  return port;
}
