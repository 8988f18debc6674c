/** who and list_channels: the members of a channel, and every channel this node is in with its relays' state. */
import type { Channel } from './channel.js';
import type { NodeContext } from './node-context.js';
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

export function listChannels(node: NodeContext) {
  const { channels, dormant, unopened } = node.registry;
  return {
    channels: [
      ...[...channels.values()].map((c) => openEntry(node, c)),
      // Dormant: what the store says, and its rooms' state on each relay.
      ...[...dormant.values()].map((d) => ({
        ...storedEntry(d.row),
        relays: d.relays().map((r) => ({
          url: r.url,
          connected: r.connected && !r.refused,
          synced: r.synced,
          ...(r.refused ? { refused: r.refused } : {}),
        })),
      })),
      // Not opened yet (just after start-up): what the store says; relays are not connected until it opens.
      ...[...unopened.values()].map((r) => ({
        ...storedEntry(r),
        relays: r.relays.map((url) => ({ url, connected: false })),
      })),
    ],
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
    relays: c.relays().map((r) => ({
      url: r.url,
      // Not while it refuses us: an open socket the relay is about to close is not a connection.
      connected: r.connected && !r.refused,
      synced: r.synced,
      ...(r.value_limit !== undefined ? { value_limit: r.value_limit } : {}),
      ...(r.refused ? { refused: r.refused } : {}),
    })),
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
