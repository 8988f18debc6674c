/** create_channel: a new channel with this node as owner, its first epoch key, and an invite code per slot. */
import { toB64u } from '../protocol/bytes.js';
import { encodeInvite } from '../protocol/invite.js';
import { newChannelId, newEpochKey, newIdentity, randomBytes } from '../protocol/keys.js';
import { ToolError } from './errors.js';
import type { NodeContext } from './node-context.js';
import { slotRole } from './payloads.js';
import type { ChannelRow } from './store.js';

export interface CreateArgs {
  name: string;
  slots?: string[];
  relays?: string[];
  expires_in_hours?: number;
  display_name?: string;
}

export function createChannel(node: NodeContext, args: CreateArgs) {
  const slots = args.slots ?? ['invite:guest'];
  if (new Set(slots).size !== slots.length) throw new ToolError('Each slot may appear only once.');
  const relays =
    args.relays && args.relays.length > 0
      ? [...new Set(args.relays.map((r) => r.replace(/\/+$/, '')))]
      : node.defaultRelays;
  if (relays.length === 0) {
    throw new ToolError('No relay configured: set PARLEY_RELAY for the node or pass relays to create_channel.');
  }
  const { ch, salt } = newChannelId(node.me);
  const key = newEpochKey();
  const expiresAt = args.expires_in_hours ? Date.now() + Math.round(args.expires_in_hours * 3_600_000) : null;
  const { slotList, slotSeeds } = slotKeys(slots);
  const row: ChannelRow = {
    ch,
    name: args.name,
    slot: 'owner',
    owner: node.me,
    relays,
    epoch: 0,
    closed: false,
    expires_at: expiresAt,
    created_at: Date.now(),
    status: 'active',
  };
  node.store.saveChannel(row);
  node.store.saveEpochKey(ch, 0, key);
  const channel = node.registry.openChannel(row);
  const owner_name = args.display_name ?? 'owner';
  channel.post('channel.create', { name: args.name, slots: slotList, relays, expires_at: expiresAt, owner_name, salt });
  const invites: Record<string, string> = {};
  for (const [slot, seed] of slotSeeds) {
    const code = encodeInvite({
      v: 1,
      relays,
      ch,
      ep: 0,
      key: toB64u(key),
      slot,
      slotSeed: toB64u(seed),
      name: args.name,
    });
    invites[slot] = code;
    node.store.setSecret(ch, `invite:${slot}`, code);
  }
  const bots: { slot: string; code_hash: string }[] = [];
  return { channel: ch, name: args.name, slot: 'owner', invites, bots, relays, channelObj: channel };
}

/** Each invite slot (member, admin, observer) gets a fresh seed; its public key goes in channel.create. */
function slotKeys(slots: string[]) {
  const slotSeeds = new Map<string, Uint8Array>();
  const slotList = slots.map((slot) => {
    if (slotRole(slot) === null) return { slot };
    const seed = randomBytes(32);
    slotSeeds.set(slot, seed);
    return { slot, pubkey: toB64u(newIdentity(seed).publicKey) };
  });
  return { slotList, slotSeeds };
}
