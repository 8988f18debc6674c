/**
 * join_channel: open the channel an invite names, wait until its history has arrived (the slot check needs all of
 * it), check that the channel and the slot can still be joined, then claim the slot and wait for the owner's (or an
 * admin's) node to admit the claim. A join that fails leaves the channel recorded as rejected.
 */
import { fromB64u, toB64u } from '../protocol/bytes.js';
import { decodeInvite, type Invite, InviteError } from '../protocol/invite.js';
import { newIdentity, randomBytes } from '../protocol/keys.js';
import type { Channel } from './channel.js';
import { joinAdmitMs } from './config.js';
import { ToolError } from './errors.js';
import type { NodeContext } from './node-context.js';
import { signSlotClaim } from './payloads.js';
import type { ChannelRow } from './store.js';
import { waitFor } from './wait.js';

/** After a relay answered, how long join_channel also waits for a long history (under the usual 60 s tool timeout). */
const JOIN_HISTORY_WAIT_MS = 45_000;

/** One join in progress. */
interface Join {
  node: NodeContext;
  invite: Invite;
  channel: Channel;
  /** The channel was already open here (a member restored, or a claim made before). */
  existing: Channel | undefined;
  row: ChannelRow;
}

export async function joinChannel(node: NodeContext, args: { invite_code: string; display_name?: string }) {
  const invite = decode(args.invite_code);
  const existing = node.registry.get(invite.ch);
  const already = existing?.membership.slotOf(node.me);
  if (existing && already) return joined(invite, existing, existing.row.name, already, false);
  const key = fromB64u(invite.key, 32)!;
  const row: ChannelRow = {
    ch: invite.ch,
    name: invite.name,
    slot: invite.slot,
    owner: '',
    relays: invite.relays,
    epoch: invite.ep,
    closed: false,
    expires_at: null,
    created_at: Date.now(),
    status: 'active',
  };
  const channel = existing ?? node.registry.create(row);
  if (!existing) {
    channel.addEpochKey(invite.ep, key);
    channel.open();
  }
  const join: Join = { node, invite, channel, existing, row };
  checkChannel(join, await settle(join));
  // Already a member (an identity restored into a new profile, or the owner coming back through any invite of
  // the channel): the history says so, nothing is claimed, and later epochs' keys come from the rotations.
  const mine = channel.membership.slotOf(node.me);
  if (mine) {
    register(join);
    return joined(invite, channel, channel.membership.name, mine, false);
  }
  return claim(join, args.display_name);
}

function decode(code: string): Invite {
  try {
    return decodeInvite(code);
  } catch (err) {
    throw new ToolError(err instanceof InviteError ? err.message : 'The invite code is not valid.');
  }
}

/** join_channel's result. */
function joined(invite: Invite, channel: Channel, name: string, slot: string, pending: boolean) {
  return { channel: invite.ch, name, slot, members: channel.membership.members(), pending };
}

/** Waits for the channel's history: whether a relay of it was reached and synced. */
async function settle({ node, channel }: Join): Promise<boolean> {
  const deadline = Date.now() + (node.opts.joinTimeoutMs ?? 10_000);
  let synced = await channel.waitSynced(deadline - Date.now());
  // Reachable but still downloading a long history: the slot check needs all of it, so keep waiting (bounded).
  if (!synced && channel.relays().some((r) => r.connected)) synced = await channel.waitSynced(JOIN_HISTORY_WAIT_MS);
  await channel.ingestIdle();
  const m = channel.membership;
  // A relay can be synced before the creator's first upload reaches it: give the history until the deadline.
  if (synced && m.owner === null) await waitFor(channel, 'event', () => m.owner !== null, deadline - Date.now());
  return synced;
}

/** The join fails: the channel is closed and recorded as rejected (unless this node is a member of it already). */
function reject({ node, channel, existing, row }: Join, message: string): never {
  if (!existing) {
    channel.close();
    node.store.saveChannel({ ...row, status: 'rejected' });
  } else if (!existing.membership.isMember(node.me)) {
    node.registry.drop(existing);
    node.store.saveChannel({ ...existing.row, status: 'rejected' });
  }
  throw new ToolError(message);
}

/** The channel's history arrived, and the channel still takes members. */
function checkChannel(join: Join, synced: boolean): void {
  const { channel, invite } = join;
  const m = channel.membership;
  const relays = invite.relays.join(', ');
  if (!synced && m.owner === null) {
    reject(
      join,
      `Could not reach any relay of this channel (${relays}); check that the relay is running and try again.`,
    );
  }
  if (m.owner === null && channel.relays().some((r) => r.synced) && channel.replica().log.size === 0) {
    reject(
      join,
      `The channel's owner has not reached this relay yet (${relays} has no history for this channel); ` +
        "try again once the owner's node has been online.",
    );
  }
  if (m.owner === null) {
    reject(
      join,
      'No valid channel.create for this invite arrived from its relays (the relays may be misbehaving); ' +
        'check the code and try again.',
    );
  }
  if (m.expiresAt !== null && Date.now() > m.expiresAt) {
    reject(join, 'This channel has expired; it no longer accepts new members.');
  }
  if (m.closed) reject(join, 'This channel is closed; it no longer accepts new members.');
}

/** Keeps the channel: registered (if it was not open) and its stored row brought up to date. */
function register({ node, invite, channel, existing }: Join): void {
  if (!existing) node.registry.adopt(channel);
  const m = channel.membership;
  channel.saveRow({
    name: m.name,
    owner: m.owner!,
    expires_at: m.expiresAt,
    closed: m.closed,
    relays: invite.relays,
    slot: m.slotOf(node.me) ?? invite.slot,
  });
}

/** Claims the invite's slot and waits for the admission; pending if none came in time. */
async function claim(join: Join, displayName: string | undefined) {
  const { node, invite, channel } = join;
  const m = channel.membership;
  const { slot } = invite;
  if (m.isRemoved(node.me))
    reject(join, 'You were removed from this channel (or left it); ask the owner for a new invite.');
  if (!m.hasSlot(slot)) reject(join, `This channel has no slot ${slot}; the invite code does not belong to it.`);
  if (m.isClosed(slot)) {
    reject(
      join,
      `The slot ${slot} is closed (its member left or was removed), so this invite code no longer works; ` +
        'ask the owner for a new invite.',
    );
  }
  const taken = (): boolean => {
    const holder = m.holder(slot);
    return !!holder && holder.author !== node.me;
  };
  if (taken()) reject(join, `The slot ${slot} was already claimed by another member; ask the owner for a new invite.`);
  register(join);
  if (!m.pendingClaimOf(node.me) && !m.holder(slot)) {
    const slotSecret = newIdentity(fromB64u(invite.slotSeed, 32)!).secretKey;
    channel.post('member.join', {
      slot,
      name: displayName ?? slot.slice(slot.indexOf(':') + 1),
      slot_sig: toB64u(signSlotClaim(invite.ch, slot, node.me, slotSecret)),
      entropy: toB64u(randomBytes(32)),
    });
  }
  // The owner's (or an admin's) node admits the first claim it sees; wait for that, or for a rival's admission.
  const admitMs = node.opts.joinAdmitMs ?? joinAdmitMs(node.env);
  await waitFor(channel, 'event', () => m.holder(slot) !== undefined || m.isClosed(slot), admitMs);
  if (taken() || m.isClosed(slot)) {
    reject(join, `The slot ${slot} was claimed by another member at the same time; ask the owner for a new invite.`);
  }
  return joined(invite, channel, m.name, slot, m.holder(slot)?.author !== node.me);
}
