/** The verification tool: check every event of a channel and replay every bot step. */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { renderCompactVerify } from '../compact.js';
import type { ParleyNode } from '../service.js';
import { ChannelRef, Detail, isFull, toolOn } from './tool.js';

const BotStats = {
  slot: z.string(),
  steps: z.number().int(),
  verified: z.number().int(),
  pending: z.number().int(),
  mismatches: z.number().int(),
};

export function registerVerifyTools(server: McpServer, node: ParleyNode): void {
  const tool = toolOn(server, node);

  tool(
    'verify_channel',
    'Check a channel: every event authenticated, every bot step replayed. Lists problems (forged or withheld ' +
      'entries, bot mismatches). Bot messages already carry their verification mark in sync_messages, so call this ' +
      'once at the end of a game, not after every turn.',
    { channel: ChannelRef, detail: Detail },
    { ok: z.boolean(), events: z.number().int(), bots: z.array(z.object(BotStats)), problems: z.array(z.string()) },
    (args) => node.verifyChannel(args),
    (out, args) => (isFull(args) ? JSON.stringify(out) : renderCompactVerify(out)),
  );
}
