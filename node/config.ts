/** Node configuration from the environment: profile directory and default relays. */
import { RelayUrlSchema } from '../protocol/invite.js';

export { parleyHome } from '../runtime/profile.js';

/** Parses a comma-separated relay list; throws an Error naming the bad entry. */
export function parseRelayList(text: string | undefined): string[] {
  if (!text) return [];
  const urls = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const url of urls) {
    if (!RelayUrlSchema.safeParse(url).success)
      throw new Error(`PARLEY_RELAY entry "${url}" is not a ws:// or wss:// URL.`);
  }
  return [...new Set(urls.map((u) => u.replace(/\/+$/, '')))];
}

/** A whole number of milliseconds from `env[name]`, at least `min`; `fallback` when unset or not one. */
function envMs(env: NodeJS.ProcessEnv, name: string, min: number, fallback: number): number {
  const n = Number(env[name]);
  return env[name] && Number.isInteger(n) && n >= min ? n : fallback;
}

/**
 * How long a peer's signed frontier may claim events this node cannot get, with relays connected, before those
 * relays are reported as withholding (PARLEY_WITHHOLD_GRACE_MS, default 15 s: longer than a heartbeat plus a sync).
 */
export function withholdGraceMs(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.PARLEY_WITHHOLD_GRACE_MS);
  return Number.isFinite(n) &&
    n >= 0 &&
    env.PARLEY_WITHHOLD_GRACE_MS !== '' &&
    env.PARLEY_WITHHOLD_GRACE_MS !== undefined
    ? n
    : 15_000;
}

/**
 * How often a node picks up what other `parley mcp` processes of its profile stored (PARLEY_STORE_POLL_MS, default
 * 200 ms). A post always picks it up first, whatever the interval.
 */
export function storePollMs(env: NodeJS.ProcessEnv = process.env): number {
  return envMs(env, 'PARLEY_STORE_POLL_MS', 10, 200);
}

/**
 * How long join_channel waits for the owner's (or an admin's) node to admit a claim before it returns
 * `pending: true` (PARLEY_JOIN_ADMIT_MS, default 10 s). The claim stands; a later join_channel call finds it admitted.
 */
export function joinAdmitMs(env: NodeJS.ProcessEnv = process.env): number {
  return envMs(env, 'PARLEY_JOIN_ADMIT_MS', 0, 10_000);
}

/**
 * How long an older epoch's relay rooms stay linked after they synced (PARLEY_OLD_EPOCH_GRACE_MS, default 30 s): long
 * enough to send what this node wrote there and to receive posts made concurrently with the rotation.
 */
export function oldEpochGraceMs(env: NodeJS.ProcessEnv = process.env): number {
  return envMs(env, 'PARLEY_OLD_EPOCH_GRACE_MS', 0, 30_000);
}

/** A channel with nothing to do for this long goes dormant (node/dormant.ts); 0 = at the next tick. */
export function dormantAfterMs(env: NodeJS.ProcessEnv = process.env): number {
  return envMs(env, 'PARLEY_DORMANT_AFTER_MS', 0, 120_000);
}
