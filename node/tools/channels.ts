/** The channel tools: create or join a channel, list yours, rename or manage one, leave it. */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { RelayUrlSchema } from '../../protocol/invite.js';
import { compactChannels, renderCompactChannels } from '../compact.js';
import { ToolError } from '../errors.js';
import { RoleSchema, SlotNameSchema } from '../payloads.js';
import type { ParleyNode } from '../service.js';
import { BotInput, type BotHooks } from './bots.js';
import { ChannelRef, Detail, isFull, toolOn, type Tool } from './tool.js';

export function registerChannelTools(server: McpServer, node: ParleyNode, bots?: BotHooks): void {
  const tool = toolOn(server, node);
  registerJoining(tool, node, bots);
  registerListing(tool, node);
  registerManaging(tool, node);
}

/** The ways into a channel: create one, or join with an invite code. */
// Long: two tool registrations, most of it their descriptions and input schemas.
function registerJoining(tool: Tool, node: ParleyNode, bots?: BotHooks): void {
  tool(
    'create_channel',
    'Create a new shared channel. Returns one invite code per invite slot: give each code to exactly one ' +
      'participant (a code is a secret capability). Add a bot slot like "bot:guess" with bot {preset:"guess"} to ' +
      'have a verifiable referee.',
    {
      name: z.string().min(1).max(200).describe('human-readable channel name'),
      slots: z
        .array(SlotNameSchema)
        .min(1)
        .max(32)
        .optional()
        .describe(
          'participant slots, default ["invite:guest"]; e.g. ' +
            '["invite:alice","admin:ops","observer:audit","bot:guess"] (invite: a member, admin: may admit and ' +
            'remove members, observer: reads only)',
        ),
      bot: BotInput.optional().describe('the bot for a bot:<name> slot'),
      relays: z.array(RelayUrlSchema).min(1).max(8).optional().describe('relay URLs (default: PARLEY_RELAY)'),
      expires_in_hours: z
        .number()
        .positive()
        .max(24 * 365)
        .optional()
        .describe('after this many hours nobody can post'),
      display_name: z.string().min(1).max(100).optional().describe('your name as shown to others'),
    },
    {
      channel: z.string(),
      name: z.string(),
      slot: z.string(),
      invites: z.record(z.string(), z.string()),
      bots: z.array(z.object({ slot: z.string(), code_hash: z.string() })),
    },
    (args) => {
      const botSlots = (args.slots ?? []).filter((s) => s.startsWith('bot:'));
      if (botSlots.length > 0 && !args.bot)
        throw new ToolError(`The slot ${botSlots[0]} needs a bot: pass bot {preset} or bot {code}.`);
      if (botSlots.length > 1)
        throw new ToolError('A channel can be created with one bot slot; attach more later with attach_bot.');
      if (args.bot && botSlots.length === 0)
        throw new ToolError('A bot was given but no "bot:<name>" slot; add one to slots.');
      if (botSlots.length > 0 && !bots) throw new ToolError('This node was started without bot support.');
      const created = node.createChannel(args);
      const out = {
        channel: created.channel,
        name: created.name,
        slot: created.slot,
        invites: created.invites,
        bots: created.bots,
      };
      if (botSlots.length > 0 && args.bot)
        out.bots.push(bots!.attachBot({ channel: created.channel, slot: botSlots[0], ...args.bot }));
      return out;
    },
  );

  tool(
    'join_channel',
    'Join a channel with an invite code ("parley:…") someone gave you. Returns the channel id to use with the ' +
      "other tools. The owner's (or an admin's) node admits your claim; if it is offline the result says pending: " +
      'true: you can read but not post until admitted (call join_channel again, or sync_messages with wait_seconds, ' +
      'to see when).',
    { invite_code: z.string().min(1).max(10_000), display_name: z.string().min(1).max(100).optional() },
    {
      channel: z.string(),
      name: z.string(),
      slot: z.string(),
      pending: z.boolean(),
      members: z.array(
        z.object({
          slot: z.string(),
          id: z.string(),
          name: z.string(),
          role: RoleSchema,
          is_bot: z.boolean(),
          status: z.string().optional(),
          note: z.string().optional(),
        }),
      ),
    },
    (args) => node.joinChannel(args),
  );
}

/** list_channels shows this many channels unless asked for more (a node may be in thousands: keep answers small). */
const DEFAULT_LISTED = 50;
const MAX_LISTED = 1000;

/** Your channels, a page at a time. */
function registerListing(tool: Tool, node: ParleyNode): void {
  tool(
    'list_channels',
    'List the channels this node belongs to, most recent activity first, with your slot, epoch and relays (a line ' +
      'each; detail "full" adds whether each relay finished its sync, and relay size limits). Shows 50 at a time: ' +
      'pass offset for the next ones, or match to find channels by name.',
    {
      detail: Detail,
      match: z.string().min(1).max(200).optional().describe('only channels whose name contains this (any case)'),
      offset: z.number().int().min(0).optional().describe('skip this many (default 0)'),
      limit: z
        .number()
        .int()
        .min(1)
        .max(MAX_LISTED)
        .optional()
        .describe(`at most this many (default ${DEFAULT_LISTED}, at most ${MAX_LISTED})`),
    },
    {
      channels: z.array(
        z.object({
          channel: z.string(),
          name: z.string(),
          slot: z.string(),
          epoch: z.number().int(),
          closed: z.boolean(),
          expires_at: z.string().optional(),
          relays: z.array(
            z.object({
              url: z.string(),
              connected: z.boolean(),
              synced: z.boolean().optional(),
              value_limit: z.number().int().optional(),
              refused: z.string().optional(),
            }),
          ),
        }),
      ),
      total: z.number().int().describe('channels in all (that match)'),
    },
    (args) => {
      const listed = node.listChannels({ ...args, limit: args.limit ?? DEFAULT_LISTED });
      return isFull(args) ? listed : compactChannels(listed);
    },
    (out, args) => (isFull(args) ? JSON.stringify(out) : renderCompactChannels(out, args)),
  );
}

/** What a member (or the owner or an admin) does with a channel. */
function registerManaging(tool: Tool, node: ParleyNode): void {
  tool(
    'update_channel',
    'Owner or admin: rename the channel or remove a member (kick: slot; also revokes an unused invite). Owner ' +
      'only: change a member\'s role (role: {slot, role}; role "owner" hands the channel on) or close it to new ' +
      'posts.',
    {
      channel: ChannelRef,
      name: z.string().min(1).max(200).optional(),
      kick: SlotNameSchema.optional(),
      role: z
        .object({ slot: SlotNameSchema, role: RoleSchema })
        .strict()
        .optional()
        .describe('give the holder of a slot the role admin, member or observer, or hand over ownership with "owner"'),
      close: z.boolean().optional(),
    },
    { channel: z.string(), name: z.string(), epoch: z.number().int(), closed: z.boolean() },
    (args) => node.updateChannel(args),
  );

  tool(
    'leave_channel',
    'Leave a channel; this node stops syncing it.',
    { channel: ChannelRef },
    { ok: z.boolean() },
    (args) => node.leaveChannel(args),
  );
}
