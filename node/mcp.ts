/**
 * The stdio MCP server: the tool contract of docs/DESIGN.md ("MCP surface") over ParleyNode. Input and output
 * are zod schemas; a failed action returns `isError: true` with one sentence, and every call is audited (time,
 * tool, channel, outcome; never bodies). stdout belongs to the transport: nothing here writes to it.
 */
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SubscribeRequestSchema, UnsubscribeRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { ParleyNode } from './service.js';
import { ToolError } from './errors.js';
import { RoleSchema, SlotNameSchema, StatusSchema } from './payloads.js';
import { RelayUrlSchema } from '../protocol/invite.js';
import { PROMPTS } from './prompts.js';
import { TOOL_HINTS } from './tool-hints.js';
import {
  compactBot, compactChannels, compactSync, compactWho, renderCompactBot, renderCompactChannels, renderCompactSync, renderCompactVerify, renderCompactWho,
  type BotInfo, type CompactSync, type SyncResult,
} from './compact.js';

const VERSION = '0.1.0';

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
  from: z.string().describe('the author\'s slot'),
  name: z.string().optional().describe('the author\'s name, when it differs from the slot and from the last one shown for it'),
  kind: z.string(),
  to: z.string().optional(),
  verification: Verification.optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
  at: z.string().describe('ISO 8601, seconds'),
  body: z.string(),
});
const Detail = z.enum(['compact', 'full']).optional().describe('compact (default): what you need to act, few tokens; full: every field (event ids, author keys, millisecond times)');
const isFull = (args: { detail?: 'compact' | 'full' }) => args.detail === 'full';

const BotStats = { slot: z.string(), steps: z.number().int(), verified: z.number().int(), pending: z.number().int(), mismatches: z.number().int() };
const MemberShape = z.object({
  slot: z.string(), id: z.string().optional().describe('member key; full detail only'), name: z.string(), role: RoleSchema.optional(), is_bot: z.boolean(), online: z.boolean(), status: z.string().optional(), note: z.string().optional(),
});
const BotInput = z
  .object({
    preset: z.string().max(64).optional().describe('a built-in bot: echo, guess, blackjack, tictactoe, dice'),
    code: z.string().max(256 * 1024).optional().describe('JavaScript module source of a custom bot (export default { init, onJoin, onMessage })'),
    params: z.record(z.string(), z.unknown()).optional().describe('parameters passed to the bot\'s init'),
  })
  .strict();
const BotLimitsInput = z
  .object({
    memory: z.number().int().positive().optional().describe('bytes of memory the bot may use beyond the engine\'s own (default 32 MiB, at most 128 MiB; docs/bots.md)'),
    gas: z.number().int().positive().optional().describe('gas per step, units of about 10k operations (default 400, at most 20000; docs/bots.md)'),
  })
  .strict()
  .optional();
const ChannelRef = z.string().min(1).max(200).describe('channel id (or exact channel name)');

export type BotHooks = {
  attachBot(args: { channel: string; slot: string; preset?: string; code?: string; params?: Record<string, unknown>; limits?: { memory?: number; gas?: number } }): { slot: string; code_hash: string };
  getBot(args: { channel: string; slot: string }): Record<string, unknown>;
  handOverBot(args: { channel: string; slot: string; to?: string }): { slot: string; runner: string; runner_slot: string; from_step: number };
};

export function createMcpServer(node: ParleyNode, bots?: BotHooks): McpServer {
  const mcp = new McpServer(
    { name: 'parley', version: VERSION },
    {
      capabilities: { resources: { subscribe: true }, logging: {} },
      instructions:
        'Parley connects you to shared, end-to-end-encrypted channels with other agents and people. Create a channel and share its invite codes, or join with a code you were given. Post with post_message, read with sync_messages (use wait_seconds to wait for replies). Results are compact; pass detail: "full" only when you need event ids or member keys. Bot messages carry a verification mark that your own node computed by replaying the bot.',
    },
  );

  /** Registers a tool whose handler returns structured content; ToolError becomes a one-sentence isError result. */
  function tool<I extends z.ZodRawShape, O extends z.ZodRawShape>(
    name: string,
    description: string,
    input: I,
    output: O,
    handler: (args: z.infer<z.ZodObject<I>>, signal: AbortSignal) => Promise<z.infer<z.ZodObject<O>>> | z.infer<z.ZodObject<O>>,
    render: (out: z.infer<z.ZodObject<O>>, args: z.infer<z.ZodObject<I>>) => string = (out) => JSON.stringify(out),
  ) {
    mcp.registerTool(name, { description, inputSchema: input, outputSchema: output, ...TOOL_HINTS[name] }, (async (args: z.infer<z.ZodObject<I>>, extra: { signal: AbortSignal }) => {
      const channel = typeof (args as { channel?: unknown }).channel === 'string' ? ((args as { channel: string }).channel) : null;
      try {
        const out = await handler(args, extra.signal);
        node.audit(name, channel, 'ok');
        return { content: [{ type: 'text' as const, text: render(out, args) }], structuredContent: out as Record<string, unknown> };
      } catch (err) {
        const message = err instanceof ToolError ? err.message : `Internal error in ${name}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
        node.audit(name, channel, `error: ${message}`);
        if (!(err instanceof ToolError)) console.error(`parley mcp: ${name} failed:`, err);
        return { content: [{ type: 'text' as const, text: message }], isError: true };
      }
    }) as never);
  }

  tool(
    'create_channel',
    'Create a new shared channel. Returns one invite code per invite slot: give each code to exactly one participant (a code is a secret capability). Add a bot slot like "bot:guess" with bot {preset:"guess"} to have a verifiable referee.',
    {
      name: z.string().min(1).max(200).describe('human-readable channel name'),
      slots: z.array(SlotNameSchema).min(1).max(32).optional().describe('participant slots, default ["invite:guest"]; e.g. ["invite:alice","admin:ops","observer:audit","bot:guess"] (invite: a member, admin: may admit and remove members, observer: reads only)'),
      bot: BotInput.optional().describe('the bot for a bot:<name> slot'),
      relays: z.array(RelayUrlSchema).min(1).max(8).optional().describe('relay URLs (default: PARLEY_RELAY)'),
      expires_in_hours: z.number().positive().max(24 * 365).optional().describe('after this many hours nobody can post'),
      display_name: z.string().min(1).max(100).optional().describe('your name as shown to others'),
    },
    {
      channel: z.string(), name: z.string(), slot: z.string(), invites: z.record(z.string(), z.string()),
      bots: z.array(z.object({ slot: z.string(), code_hash: z.string() })),
    },
    (args) => {
      const botSlots = (args.slots ?? []).filter((s) => s.startsWith('bot:'));
      if (botSlots.length > 0 && !args.bot) throw new ToolError(`The slot ${botSlots[0]} needs a bot: pass bot {preset} or bot {code}.`);
      if (botSlots.length > 1) throw new ToolError('A channel can be created with one bot slot; attach more later with attach_bot.');
      if (args.bot && botSlots.length === 0) throw new ToolError('A bot was given but no "bot:<name>" slot; add one to slots.');
      if (botSlots.length > 0 && !bots) throw new ToolError('This node was started without bot support.');
      const created = node.createChannel(args);
      const out = { channel: created.channel, name: created.name, slot: created.slot, invites: created.invites, bots: created.bots };
      if (botSlots.length > 0 && args.bot) out.bots.push(bots!.attachBot({ channel: created.channel, slot: botSlots[0], ...args.bot }));
      return out;
    },
  );

  tool(
    'join_channel',
    'Join a channel with an invite code ("parley:…") someone gave you. Returns the channel id to use with the other tools. The owner\'s (or an admin\'s) node admits your claim; if it is offline the result says pending: true: you can read but not post until admitted (call join_channel again, or sync_messages with wait_seconds, to see when).',
    { invite_code: z.string().min(1).max(10_000), display_name: z.string().min(1).max(100).optional() },
    {
      channel: z.string(), name: z.string(), slot: z.string(), pending: z.boolean(),
      members: z.array(z.object({ slot: z.string(), id: z.string(), name: z.string(), role: RoleSchema, is_bot: z.boolean(), status: z.string().optional(), note: z.string().optional() })),
    },
    (args) => node.joinChannel(args),
  );

  tool(
    'post_message',
    'Post a message to a channel. Secrets (API keys, tokens, private keys, passwords) are redacted before encryption and listed in "redacted". Use kind for game moves, e.g. kind "guess" with body "42".',
    {
      channel: ChannelRef,
      body: z.string().describe('message text'),
      kind: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.:-]+$/).optional().describe('message kind, default "chat"'),
      to: SlotNameSchema.optional().describe('address a slot (visible to all members)'),
      meta: z.record(z.string(), z.unknown()).optional().describe('structured extras, e.g. {action_type, files}'),
    },
    { id: z.string(), redacted: z.array(z.string()), warning: z.string().optional() },
    (args) => node.postMessage(args),
  );

  tool(
    'sync_messages',
    'Read new messages, one line each (about 50 bytes plus the body). Pass back the cursor from the previous call to continue; without a cursor it continues from where this node last read, so nothing is read twice (cursor "0" re-reads the whole history: avoid it). limit (default 50, up to 500) caps one page; more: true means call again. wait_seconds (up to 50) waits for the next message and returns as soon as one arrives: one waiting call costs less than repeated polls. detail "full" adds event ids, author keys and millisecond times (about 3 times the bytes of a typical page).',
    {
      channel: ChannelRef.optional().describe('one channel; all channels when absent'),
      cursor: z.string().max(32).optional(),
      limit: z.number().int().min(1).max(500).optional(),
      wait_seconds: z.number().min(0).max(50).optional(),
      detail: Detail,
    },
    { channel: z.string().optional().describe('the channel read, once (compact)'), messages: z.array(z.union([CompactMessageShape, MessageShape])), cursor: z.string(), more: z.boolean() },
    async (args, signal) => {
      const full = await node.syncMessages(args, signal);
      return isFull(args) ? full : compactSync(full, args.channel === undefined ? null : node.channel(args.channel).ch);
    },
    (out, args) =>
      isFull(args) ? (out.messages.length === 0 ? `no new messages (cursor ${out.cursor})` : JSON.stringify(out)) : renderCompactSync(out as CompactSync),
  );

  tool(
    'who',
    'List the members of a channel (slot, name, role, online, status; a line each; detail "full" adds member keys). `waiting` lists claims the owner or an admin has not admitted yet; `withholding` names relays that fail to deliver events a member has signed it holds; `refused_relays` names relays that sent updates this node refused (a delete, an overwrite or anything but new log entries).',
    { channel: ChannelRef, detail: Detail },
    { members: z.array(MemberShape), waiting: z.array(z.object({ slot: z.string(), id: z.string().optional(), name: z.string() })), withholding: z.array(z.string()), refused_relays: z.array(z.string()) },
    (args) => (isFull(args) ? node.who(args) : compactWho(node.who(args))),
    (out, args) => (isFull(args) ? JSON.stringify(out) : renderCompactWho(out as ReturnType<typeof compactWho>)),
  );

  tool(
    'list_channels',
    'List the channels this node belongs to, with your slot, epoch and relays (a line each; detail "full" adds whether each relay finished its sync, and relay size limits).',
    { detail: Detail },
    {
      channels: z.array(
        z.object({
          channel: z.string(), name: z.string(), slot: z.string(), epoch: z.number().int(), closed: z.boolean(), expires_at: z.string().optional(),
          relays: z.array(z.object({ url: z.string(), connected: z.boolean(), synced: z.boolean().optional(), value_limit: z.number().int().optional(), refused: z.string().optional() })),
        }),
      ),
    },
    (args) => (isFull(args) ? node.listChannels() : compactChannels(node.listChannels())),
    (out, args) => (isFull(args) ? JSON.stringify(out) : renderCompactChannels(out)),
  );

  tool(
    'set_status',
    'Tell the channel what you are doing: working, waiting, blocked or complete, with an optional note.',
    { channel: ChannelRef, status: StatusSchema, note: z.string().max(500).optional() },
    { ok: z.boolean() },
    (args) => node.setStatus(args),
  );

  tool(
    'update_channel',
    'Owner or admin: rename the channel or remove a member (kick: slot; also revokes an unused invite). Owner only: change a member\'s role (role: {slot, role}; role "owner" hands the channel on) or close it to new posts.',
    {
      channel: ChannelRef,
      name: z.string().min(1).max(200).optional(),
      kick: SlotNameSchema.optional(),
      role: z.object({ slot: SlotNameSchema, role: RoleSchema }).strict().optional().describe('give the holder of a slot the role admin, member or observer, or hand over ownership with "owner"'),
      close: z.boolean().optional(),
    },
    { channel: z.string(), name: z.string(), epoch: z.number().int(), closed: z.boolean() },
    (args) => node.updateChannel(args),
  );

  tool('leave_channel', 'Leave a channel; this node stops syncing it.', { channel: ChannelRef }, { ok: z.boolean() }, (args) => node.leaveChannel(args));

  tool(
    'verify_channel',
    'Check a channel: every event authenticated, every bot step replayed. Lists problems (forged or withheld entries, bot mismatches). Bot messages already carry their verification mark in sync_messages, so call this once at the end of a game, not after every turn.',
    { channel: ChannelRef, detail: Detail },
    { ok: z.boolean(), events: z.number().int(), bots: z.array(z.object(BotStats)), problems: z.array(z.string()) },
    (args) => node.verifyChannel(args),
    (out, args) => (isFull(args) ? JSON.stringify(out) : renderCompactVerify(out)),
  );

  if (bots) {
    tool(
      'attach_bot',
      'Owner or admin: attach a bot to a bot:<name> slot, from a preset or your own JavaScript. Every member replays it to verify its outputs.',
      { channel: ChannelRef, slot: SlotNameSchema, preset: z.string().max(64).optional(), code: z.string().max(256 * 1024).optional(), params: z.record(z.string(), z.unknown()).optional(), limits: BotLimitsInput },
      { slot: z.string(), code_hash: z.string() },
      (args) => bots.attachBot(args),
    );
    tool(
      'get_bot',
      'Show a bot: state, runner, engine, code hash, and how many of its steps your node verified. detail "full" adds its source code (up to 256 KiB) and the full hash: ask for it only to read the code.',
      { channel: ChannelRef, slot: SlotNameSchema, detail: Detail },
      {
        slot: z.string(), code: z.string().optional().describe('full detail only'), code_hash: z.string().describe('sha256; shortened unless full'), runner: z.string().optional().describe('full detail only'), runner_slot: z.string(), runner_is_neutral: z.boolean(),
        secret: z.boolean(), engine: z.string(), state: z.enum(['running', 'paused']), waiting_inputs: z.number().int(), note: z.string(),
        steps: z.number().int(), verified: z.number().int(), pending: z.number().int(), mismatches: z.number().int(),
      },
      (args) => (isFull(args) ? bots.getBot(args) : compactBot(bots.getBot(args) as unknown as BotInfo)) as never,
      (out, args) => (isFull(args) ? JSON.stringify(out) : renderCompactBot(out as ReturnType<typeof compactBot>)),
    );
    tool(
      'hand_over_bot',
      'Move a bot\'s runner role to another member from its next step. The owner may hand any bot to any member (a bot with a secret seed only by its current runner, who seals the seed to the new one); any member may claim a paused bot without a secret seed for itself (omit `to`).',
      { channel: ChannelRef, slot: SlotNameSchema, to: SlotNameSchema.optional().describe('the member slot that becomes the runner; default: yourself') },
      { slot: z.string(), runner: z.string(), runner_slot: z.string(), from_step: z.number().int() },
      (args) => bots.handOverBot(args),
    );
  }

  for (const p of PROMPTS) {
    mcp.registerPrompt(p.name, { title: p.title, description: p.description, argsSchema: p.args }, ((args: never) => ({
      description: p.description,
      messages: [{ role: 'user' as const, content: { type: 'text' as const, text: p.text(args) } }],
    })) as never);
  }

  // Transcript resources with subscriptions: subscribers are told when a channel gets new events.
  const subscribed = new Set<string>();
  mcp.registerResource(
    'channel-transcript',
    new ResourceTemplate('parley://channel/{id}', {
      list: () => ({ resources: [...node.channels.values()].map((c) => ({ uri: `parley://channel/${c.ch}`, name: c.row.name, mimeType: 'text/plain' })) }),
    }),
    { description: 'The decrypted transcript of a channel', mimeType: 'text/plain' },
    (uri, { id }) => {
      try {
        return { contents: [{ uri: uri.href, mimeType: 'text/plain', text: node.transcript(String(id)) }] };
      } catch (err) {
        throw new Error(err instanceof ToolError ? err.message : 'transcript unavailable');
      }
    },
  );
  mcp.server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    subscribed.add(req.params.uri);
    return {};
  });
  mcp.server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    subscribed.delete(req.params.uri);
    return {};
  });
  const onDelivered = (ch: string | null) => {
    for (const uri of subscribed) {
      if (ch === null || uri === `parley://channel/${ch}`) void mcp.server.sendResourceUpdated({ uri }).catch(() => undefined);
    }
  };
  node.on('delivered', onDelivered);
  // An HTTP session (parley serve) ends long before its node: the listener goes with it.
  mcp.server.onclose = () => node.off('delivered', onDelivered);
  return mcp;
}
