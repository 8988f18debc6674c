/**
 * The profile directory every Parley process of a user shares (PARLEY_HOME, default ~/.parley): the node keeps its
 * identity and store there, the relay its default data directory (relay/options.ts).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function parleyHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.PARLEY_HOME && env.PARLEY_HOME.trim() !== '' ? env.PARLEY_HOME : join(homedir(), '.parley');
}
