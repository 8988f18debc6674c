/** The member tools: who is in a channel and what they are doing, and your own status. */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { compactWho, renderCompactWho } from '../compact.js';
import { RoleSchema, StatusSchema } from '../payloads.js';
import type { ParleyNode } from '../service.js';
import { ChannelRef, Detail, isFull, toolOn } from './tool.js';

const MemberShape = z.object({
  slot: z.string(),
  id: z.string().optional().describe('member key; full detail only'),
  name: z.string(),
  role: RoleSchema.optional(),
  is_bot: z.boolean(),
  online: z.boolean(),
  status: z.string().optional(),
  note: z.string().optional(),
});

export function registerMemberTools(server: McpServer, node: ParleyNode): void {
  const tool = toolOn(server, node);

  tool(
    'who',
    'List the members of a channel (slot, name, role, online, status; a line each; detail "full" adds member ' +
      'keys). `waiting` lists claims the owner or an admin has not admitted yet; `withholding` names relays that ' +
      'fail to deliver events a member has signed it holds; `refused_relays` names relays that sent updates this ' +
      'node refused (a delete, an overwrite or anything but new log entries).',
    { channel: ChannelRef, detail: Detail },
    {
      members: z.array(MemberShape),
      waiting: z.array(z.object({ slot: z.string(), id: z.string().optional(), name: z.string() })),
      withholding: z.array(z.string()),
      refused_relays: z.array(z.string()),
    },
    (args) => (isFull(args) ? node.who(args) : compactWho(node.who(args))),
    (out, args) => (isFull(args) ? JSON.stringify(out) : renderCompactWho(out as ReturnType<typeof compactWho>)),
  );

  tool(
    'set_status',
    'Tell the channel what you are doing: working, waiting, blocked or complete, with an optional note.',
    { channel: ChannelRef, status: StatusSchema, note: z.string().max(500).optional() },
    { ok: z.boolean() },
    (args) => node.setStatus(args),
  );
}
