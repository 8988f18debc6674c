/**
 * post_message and set_status: what this node's agent writes into a channel. Each checks that the channel is
 * postable and the local rate; a failing store becomes one sentence for the agent (and reloads the channel).
 */
import type { EventType } from '../protocol/event.js';
import type { Channel } from './channel.js';
import { ToolError } from './errors.js';
import { checkBodySize } from './limits.js';
import type { NodeContext } from './node-context.js';
import { redactJson, redactSecrets } from './redact.js';

/** How long a post or a leave in a channel just opened waits for it to sync before going on without. */
const OPEN_SYNC_WAIT_MS = 3000;

export interface PostArgs {
  channel: string;
  body: string;
  kind?: string;
  to?: string;
  meta?: Record<string, unknown>;
}

export async function postMessage(node: NodeContext, args: PostArgs) {
  const channel = node.channel(args.channel);
  checkPostable(node, channel);
  const tooBig = checkBodySize(args.body, node.bodyLimit);
  if (tooBig) throw new ToolError(tooBig);
  takeRate(node, channel);
  const body = redactSecrets(args.body);
  const payload: Record<string, unknown> = { kind: args.kind ?? 'chat', body: body.text };
  const redacted = [...body.redacted];
  if (args.to) payload.to = args.to;
  if (args.meta) {
    const meta = redactJson(args.meta);
    payload.meta = meta.value;
    for (const r of meta.redacted) if (!redacted.includes(r)) redacted.push(r);
  }
  const id = postAs(node, channel, 'message', payload);
  await settleJustOpened(channel);
  return { id, redacted, ...unsentWarning(channel) };
}

/**
 * A channel just opened (woken from dormant, or at start-up) on a live connection is still syncing: give it that
 * moment (at most OPEN_SYNC_WAIT_MS) before acting on whether a relay has it. Not for unreachable or refusing relays.
 */
export async function settleJustOpened(channel: Channel): Promise<void> {
  if (!channel.isSynced() && channel.relays().some((r) => r.connected && !r.refused)) {
    await channel.waitSynced(OPEN_SYNC_WAIT_MS);
  }
}

export interface StatusArgs {
  channel: string;
  status: 'working' | 'waiting' | 'blocked' | 'complete';
  note?: string;
}

export function setStatus(node: NodeContext, args: StatusArgs) {
  const c = node.channel(args.channel);
  checkPostable(node, c);
  takeRate(node, c);
  c.setPresence({ status: args.status, ...(args.note ? { note: args.note } : {}) });
  postAs(node, c, 'member.status', { status: args.status, ...(args.note ? { note: args.note } : {}) });
  return { ok: true };
}

/** Posts for a tool call; a failing store reloads the channel and becomes one sentence for the agent. */
export function postAs(node: NodeContext, channel: Channel, type: EventType, payload: Record<string, unknown>): string {
  try {
    return channel.post(type, payload);
  } catch (err) {
    if (err instanceof ToolError) throw err;
    node.registry.recover(channel, err);
    const what = type === 'message' ? 'message' : 'change';
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ToolError(
      `Could not store the ${what} in the local store (${why}); nothing was sent. ` +
        'Try again once the problem (a full disk?) is fixed.',
    );
  }
}

/** Messages and status changes share one per-channel rate limit: each is an event every member stores. */
function takeRate(node: NodeContext, channel: Channel): void {
  const limited = node.rate.take(channel.ch);
  if (!limited.ok) {
    throw new ToolError(
      `Rate limit reached for this channel; try again in ${Math.ceil(limited.retryAfterMs / 1000)} s.`,
    );
  }
}

function checkPostable(node: NodeContext, channel: Channel): void {
  const m = channel.membership;
  const name = channel.row.name;
  if (m.closed || channel.row.closed)
    throw new ToolError(`Channel "${name}" is closed; no new messages can be posted.`);
  if (m.expiresAt !== null && Date.now() > m.expiresAt) {
    const at = new Date(m.expiresAt).toISOString();
    throw new ToolError(`Channel "${name}" expired at ${at}; no new messages can be posted.`);
  }
  if (m.canPost(node.me)) return;
  const claim = m.pendingClaimOf(node.me);
  if (claim) {
    throw new ToolError(
      `Your claim on ${claim.slot} in "${name}" waits for the owner or an admin to admit you; ` +
        'you can read but not post until then (join_channel again to check).',
    );
  }
  if (m.roleOf(node.me) === 'observer')
    throw new ToolError(`You are an observer in "${name}": you can read but not post.`);
  throw new ToolError(`You are not a member of channel "${name}" any more.`);
}

/** A warning for a post's result when no relay of the channel is in sync: the post is stored, not yet sent. */
function unsentWarning(channel: Channel): { warning?: string } {
  const relays = channel.relays();
  if (relays.some((r) => r.synced && !r.refused)) return {};
  const why = relays.map((r) => `${r.url}: ${r.refused ?? (r.connected ? 'still syncing' : 'unreachable')}`).join('; ');
  return {
    warning:
      `Stored locally but not sent yet: no relay of this channel accepts it right now (${why}). ` +
      'It is sent as soon as one does.',
  };
}
