/** who and list_channels: the members of a channel, and every channel this node is in with its relays' state. */
import type { Channel } from './channel.js';
import type { NodeContext } from './node-context.js';
import type { RelayState } from './replica.js';
import type { ChannelRow } from './store.js';

export function who(node: NodeContext, args: { channel: string }) {
  const c = node.channel(args.channel);
  const online = c.online();
  const members = c.membership.members().map((m) => {
    const live = online.get(m.id);
    const status = live?.status ?? m.status;
    return {
      slot: m.slot,
      id: m.id,
      name: m.name,
      role: m.role,
      is_bot: false,
      online: m.id === node.me || online.has(m.id),
      ...(status ? { status } : {}),
      ...((live?.note ?? m.note) ? { note: live?.note ?? m.note } : {}),
    };
  });
  for (const slot of c.membership.botSlots()) {
    members.push({ slot, id: slot, name: slot.slice(4), role: 'member', is_bot: true, online: true });
  }
  const waiting = c.membership.pendingClaims().map((cl) => ({ slot: cl.slot, id: cl.author, name: cl.name }));
  return { members, waiting, withholding: c.withholding(), refused_relays: c.refusedRelays() };
}

export interface ListArgs {
  /** Only channels whose name contains this (any case). */
  match?: string;
  /** Skip this many channels of the order (most recent activity first). */
  offset?: number;
  /** At most this many channels; all of them when absent. */
  limit?: number;
}

/**
 * The channels this node is in, most recent activity (last delivery) first, from `offset`, at most `limit` of them,
 * with how many there are (`total`, after `match`). Only the channels shown are looked at beyond their stored row, so
 * a page of a node in thousands of channels costs what the page does.
 */
export function listChannels(node: NodeContext, args: ListArgs = {}) {
  const { channels, dormant } = node.registry;
  const needle = args.match?.toLowerCase();
  const rows = node.registry.rows().filter((r) => needle === undefined || r.name.toLowerCase().includes(needle));
  const last = node.store.lastDelivered();
  rows.sort((a, b) => (last.get(b.ch) ?? 0) - (last.get(a.ch) ?? 0) || b.created_at - a.created_at);
  const offset = args.offset ?? 0;
  const page = rows.slice(offset, args.limit === undefined ? undefined : offset + args.limit);
  return {
    channels: page.map((row) => {
      const open = channels.get(row.ch);
      if (open) return openEntry(node, open);
      const d = dormant.get(row.ch);
      // Dormant: what the store says, and its rooms' state on each relay.
      if (d) return { ...storedEntry(row), relays: d.relays().map(roomState) };
      // Not opened yet (just after start-up): what the store says; relays are not connected until it opens.
      return { ...storedEntry(row), relays: row.relays.map((url) => ({ url, connected: false })) };
    }),
    total: rows.length,
  };
}

/** A channel's room on one relay, as listed. */
function roomState(r: RelayState): RelayState {
  return {
    url: r.url,
    // Not while it refuses us: an open socket the relay is about to close is not a connection.
    connected: r.connected && !r.refused,
    synced: r.synced,
    ...(r.value_limit !== undefined ? { value_limit: r.value_limit } : {}),
    ...(r.refused ? { refused: r.refused } : {}),
  };
}

/** An open channel's entry in list_channels, from its membership and its live relay connections. */
function openEntry(node: NodeContext, c: Channel) {
  return {
    channel: c.ch,
    name: c.row.name,
    slot: c.membership.slotOf(node.me) ?? c.row.slot,
    epoch: c.epoch,
    closed: c.row.closed || c.membership.closed,
    ...(c.membership.expiresAt !== null ? { expires_at: new Date(c.membership.expiresAt).toISOString() } : {}),
    relays: c.relays().map(roomState),
  };
}

/** A channel's entry in list_channels as its stored row has it (for channels not loaded). */
function storedEntry(r: ChannelRow) {
  return {
    channel: r.ch,
    name: r.name,
    slot: r.slot,
    epoch: r.epoch,
    closed: r.closed,
    ...(r.expires_at !== null ? { expires_at: new Date(r.expires_at).toISOString() } : {}),
  };
}
