/**
 * Titles and behaviour hints for the MCP tools (MCP `ToolAnnotations`), so hosts can show a readable name and ask
 * before the tools that remove or end something (kick and close in update_channel, leave_channel). Hints describe
 * effects on the channels, not on this node's read cursor.
 */
import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';

const read = { readOnlyHint: true, destructiveHint: false, idempotentHint: true } as const;

export const TOOL_HINTS: Record<string, { title: string; annotations: ToolAnnotations }> = {
  create_channel: {
    title: 'Create a channel',
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  },
  join_channel: {
    title: 'Join a channel with an invite',
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  },
  post_message: {
    title: 'Post a message',
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  },
  sync_messages: { title: 'Read new messages', annotations: read },
  who: { title: 'Members and their status', annotations: read },
  list_channels: { title: 'List your channels', annotations: read },
  set_status: {
    title: 'Set your status',
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  },
  update_channel: {
    title: 'Rename, remove a member, change roles or close',
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false },
  },
  leave_channel: {
    title: 'Leave a channel',
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false },
  },
  verify_channel: { title: 'Verify a channel', annotations: read },
  attach_bot: {
    title: 'Attach a bot',
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  },
  get_bot: { title: 'Show a bot', annotations: read },
  hand_over_bot: {
    title: "Hand a bot's runner role on",
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  },
};
