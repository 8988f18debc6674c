/**
 * What the operations behind the MCP tools (node/create.ts, join.ts, posting.ts, reading.ts, listing.ts,
 * members-ops.ts) need of the node. `ParleyNode` (node/service.ts) builds it once and passes it to each.
 */
import type { EventEmitter } from 'node:events';
import type { Channel } from './channel.js';
import type { ChannelRegistry } from './channel-registry.js';
import type { RateLimiter } from './limits.js';
import type { LocalStore } from './store.js';

export interface NodeOptions {
  home?: string;
  relays?: string[];
  env?: NodeJS.ProcessEnv;
  /** How long join_channel waits for a relay before giving up. */
  joinTimeoutMs?: number;
  /** How long join_channel waits for the owner's (or an admin's) node to admit its claim before returning pending. */
  joinAdmitMs?: number;
}

export interface NodeContext {
  /** This node's member id. */
  readonly me: string;
  readonly store: LocalStore;
  readonly defaultRelays: string[];
  readonly opts: NodeOptions;
  readonly env: NodeJS.ProcessEnv;
  readonly registry: ChannelRegistry;
  /** The per-channel rate limit shared by messages and status changes. */
  readonly rate: RateLimiter;
  readonly bodyLimit: number;
  /** Emits 'delivered' with the channel id (or null: somewhere) when something is delivered. */
  readonly events: EventEmitter;
  /** Finds a channel by id or exact name, opening it if needed, and marks it used. */
  channel(ref: string): Channel;
}
