/** Read-only views of the local store for CLI commands that must not start a node (channels, show, audit, export). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LocalStore, type ChannelRow, type DeliveredRow } from './store.js';
import { Membership } from './membership.js';
import { parseStoredBody } from './channel.js';
import { parleyHome } from './config.js';

export function openStoreReadonly(env: NodeJS.ProcessEnv = process.env): LocalStore {
  const home = parleyHome(env);
  if (!existsSync(join(home, 'node.sqlite')))
    throw new Error(`No Parley profile at ${home} (set PARLEY_HOME, or run parley mcp once).`);
  // A CLI read is over in moments: no checkpoint thread (it would load SQLite a second time, for nothing).
  return new LocalStore(home, { checkpointWorker: false });
}

export interface ChannelView {
  row: ChannelRow;
  rows: DeliveredRow[];
  membership: Membership;
}

export function findChannel(store: LocalStore, ref: string): ChannelRow {
  const rows = store.channels();
  const match = rows.filter((c) => c.ch === ref || c.name === ref);
  if (match.length === 1) return match[0];
  if (match.length > 1) throw new Error(`Several channels are named "${ref}"; use the channel id.`);
  throw new Error(`Unknown channel "${ref}"; run parley channels to list them.`);
}

export function channelView(store: LocalStore, ref: string): ChannelView {
  const row = findChannel(store, ref);
  const rows = store.deliveredAll(row.ch);
  const membership = new Membership(row.ch);
  for (const r of rows) {
    const b = parseStoredBody(r);
    membership.apply(r.id, b);
  }
  return { row, rows, membership };
}
