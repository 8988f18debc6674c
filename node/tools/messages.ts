/** The message tools: post to a channel, read what is new. */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { compactSync, renderCompactSync, type CompactSync } from '../compact.js';
import { SlotNameSchema } from '../payloads.js';
import type { ParleyNode } from '../service.js';
import { ChannelRef, Detail, isFull, toolOn } from './tool.js';

const Verification = z.enum(['verified', 'pending', 'mismatch', 'unverifiable']);
const MessageShape = z.object({
  id: z.string(),
  channel: z.string(),
  seq: z.number().int(),
  from: z.string(),
  from_name: z.string(),
  author: z.string(),
  kind: z.string(),
  body: z.string(),
  to: z.string().optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
  ts: z.number(),
  verification: Verification.optional(),
});

const CompactMessageShape = z.object({
  seq: z.number().int(),
  channel: z.string().optional().describe('only when all channels were read'),
  from: z.string().describe("the author's slot"),
  name: z
    .string()
    .optional()
    .describe("the author's name, when it differs from the slot and from the last one shown for it"),
  kind: z.string(),
  to: z.string().optional(),
  verification: Verification.optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
  at: z.string().describe('ISO 8601, seconds'),
  body: z.string(),
});

export function registerMessageTools(server: McpServer, node: ParleyNode): void {
  const tool = toolOn(server, node);

  tool(
    'post_message',
    'Post a message to a channel. Secrets (API keys, tokens, private keys, passwords) are redacted before ' +
      'encryption and listed in "redacted". Use kind for game moves, e.g. kind "guess" with body "42".',
    {
      channel: ChannelRef,
      body: z.string().describe('message text'),
      kind: z
        .string()
        .min(1)
        .max(64)
        .regex(/^[A-Za-z0-9_.:-]+$/)
        .optional()
        .describe('message kind, default "chat"'),
      to: SlotNameSchema.optional().describe('address a slot (visible to all members)'),
      meta: z.record(z.string(), z.unknown()).optional().describe('structured extras, e.g. {action_type, files}'),
    },
    { id: z.string(), redacted: z.array(z.string()), warning: z.string().optional() },
    (args) => node.postMessage(args),
  );

  tool(
    'sync_messages',
    'Read new messages, one line each (about 50 bytes plus the body). Pass back the cursor from the previous call ' +
      'to continue; without a cursor it continues from where this node last read, so nothing is read twice (cursor ' +
      '"0" re-reads the whole history: avoid it). limit (default 50, up to 500) caps one page; more: true means call ' +
      'again. wait_seconds (up to 50) waits for the next message and returns as soon as one arrives: one waiting ' +
      'call costs less than repeated polls. detail "full" adds event ids, author keys and millisecond times (about 3 ' +
      'times the bytes of a typical page).',
    {
      channel: ChannelRef.optional().describe('one channel; all channels when absent'),
      cursor: z.string().max(32).optional(),
      limit: z.number().int().min(1).max(500).optional(),
      wait_seconds: z.number().min(0).max(50).optional(),
      detail: Detail,
    },
    {
      channel: z.string().optional().describe('the channel read, once (compact)'),
      messages: z.array(z.union([CompactMessageShape, MessageShape])),
      cursor: z.string(),
      more: z.boolean(),
    },
    async (args, signal) => {
      const full = await node.syncMessages(args, signal);
      return isFull(args) ? full : compactSync(full, args.channel === undefined ? null : node.channel(args.channel).ch);
    },
    (out, args) =>
      isFull(args)
        ? out.messages.length === 0
          ? `no new messages (cursor ${out.cursor})`
          : JSON.stringify(out)
        : renderCompactSync(out as CompactSync),
  );
}
