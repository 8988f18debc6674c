/**
 * update_channel and leave_channel: the owner's and admins' changes to a channel (rename, remove a member, give a
 * role, close) and a member leaving it. Who may do what is docs/membership.md; these check it before posting so the
 * agent gets one sentence instead of an event every node refuses.
 */
import type { Channel } from './channel.js';
import { ToolError } from './errors.js';
import type { NodeContext } from './node-context.js';
import type { Role } from './payloads.js';
import { postAs, settleJustOpened } from './posting.js';
import { waitFor } from './wait.js';

/** How long update_channel waits for the rotation after a kick before it reports the epoch it has. */
const ROTATION_WAIT_MS = 5_000;

export interface UpdateArgs {
  channel: string;
  name?: string;
  kick?: string;
  close?: boolean;
  role?: { slot: string; role: Role };
}

export async function updateChannel(node: NodeContext, args: UpdateArgs) {
  const c = node.channel(args.channel);
  const m = c.membership;
  if (args.name === undefined && args.kick === undefined && !args.close && !args.role) {
    throw new ToolError('Nothing to change: pass name, kick, role or close.');
  }
  if (!m.manages(node.me)) {
    throw new ToolError('Only the channel owner or an admin can rename the channel or remove members.');
  }
  if ((args.close || args.role) && m.owner !== node.me) {
    throw new ToolError('Only the channel owner can close the channel or change roles.');
  }
  if (m.closed) throw new ToolError(`Channel "${c.row.name}" is already closed.`);
  if (args.kick !== undefined) await kick(node, c, args.kick);
  if (args.role) {
    const holder = m.holder(args.role.slot);
    if (!holder) throw new ToolError(`Nobody holds the slot ${args.role.slot}; a role can only be given to a member.`);
    postAs(node, c, 'member.role', { slot: args.role.slot, role: args.role.role });
  }
  if (args.name !== undefined) postAs(node, c, 'channel.update', { name: args.name });
  if (args.close) postAs(node, c, 'channel.close', {});
  return { channel: c.ch, name: m.name, epoch: c.epoch, closed: m.closed };
}

/** Removes the member in `slot` (or closes the unclaimed slot); resolves once the epoch rotated (or in a while). */
async function kick(node: NodeContext, c: Channel, slot: string): Promise<void> {
  const m = c.membership;
  if (!m.hasSlot(slot) || slot.startsWith('bot:')) throw new ToolError(`The channel has no member slot ${slot}.`);
  if (m.isClosed(slot)) throw new ToolError(`The slot ${slot} is already closed.`);
  if (m.holder(slot)?.role === 'admin' && m.owner !== node.me)
    throw new ToolError('Only the owner can remove an admin.');
  const held = m.holder(slot) !== undefined;
  // Removing a holder rotates the epoch once the kick is delivered here (deferred): report the new epoch.
  const before = c.epoch;
  const rotated = held ? waitFor(c, 'epoch', () => c.epoch > before, ROTATION_WAIT_MS) : Promise.resolve();
  postAs(node, c, 'member.kick', { slot });
  await rotated;
}

export async function leaveChannel(node: NodeContext, args: { channel: string }) {
  const c = node.channel(args.channel);
  if (c.membership.owner === node.me && c.membership.members().length > 1) {
    throw new ToolError(
      'The owner cannot leave a channel with members: hand ownership on first ' +
        '(update_channel role {slot, role: "owner"}).',
    );
  }
  if (c.membership.isMember(node.me) && c.membership.owner !== node.me) {
    // The leave is sent in order, before the room is left, once the room is synced: a channel just opened syncs
    // first. Unreachable relays get it if this profile ever joins again.
    await settleJustOpened(c);
    postAs(node, c, 'member.leave', {});
  }
  c.saveRow({ status: 'left' });
  node.registry.drop(c);
  return { ok: true };
}
