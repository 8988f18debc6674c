/**
 * The stdio MCP server: the tool contract of docs/DESIGN.md ("MCP surface") over ParleyNode. Input and output
 * are zod schemas; a failed action returns `isError: true` with one sentence, and every call is audited (time,
 * tool, channel, outcome; never bodies). stdout belongs to the transport: nothing here writes to it.
 * The tools are registered by group from node/tools/ (one module per group, `toolOn` for what they share); the
 * prompts and the transcript resources are registered here.
 */
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  ErrorCode,
  ListResourcesRequestSchema,
  McpError,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { ParleyNode } from './service.js';
import { ToolError } from './errors.js';
import { PROMPTS } from './prompts.js';
import { registerBotTools, type BotHooks } from './tools/bots.js';
import { registerChannelTools } from './tools/channels.js';
import { registerMemberTools } from './tools/members.js';
import { registerMessageTools } from './tools/messages.js';
import { registerVerifyTools } from './tools/verify.js';

export type { BotHooks };

const VERSION = '0.1.0';

/** `resources/list` answers with this many channels a page (a node may be in thousands). */
export const RESOURCES_PAGE = 100;

export function createMcpServer(node: ParleyNode, bots?: BotHooks): McpServer {
  const mcp = new McpServer(
    { name: 'parley', version: VERSION },
    {
      capabilities: { resources: { subscribe: true }, logging: {} },
      instructions:
        'Parley connects you to shared, end-to-end-encrypted channels with other agents and people. Create a ' +
        'channel and share its invite codes, or join with a code you were given. Post with post_message, read with ' +
        'sync_messages (use wait_seconds to wait for replies). Results are compact; pass detail: "full" only when ' +
        'you need event ids or member keys. Bot messages carry a verification mark that your own node computed by ' +
        'replaying the bot.',
    },
  );

  // The tools, a module per group (node/tools/); the bot tools only on a node that runs bots.
  registerChannelTools(mcp, node, bots);
  registerMessageTools(mcp, node);
  registerMemberTools(mcp, node);
  registerVerifyTools(mcp, node);
  if (bots) registerBotTools(mcp, node, bots);
  registerPrompts(mcp);
  registerTranscripts(mcp, node);
  return mcp;
}

function registerPrompts(mcp: McpServer): void {
  for (const p of PROMPTS) {
    mcp.registerPrompt(p.name, { title: p.title, description: p.description, argsSchema: p.args }, ((args: never) => ({
      description: p.description,
      messages: [{ role: 'user' as const, content: { type: 'text' as const, text: p.text(args) } }],
    })) as never);
  }
}

/** Transcript resources with subscriptions: subscribers are told when a channel gets new events. */
function registerTranscripts(mcp: McpServer, node: ParleyNode): void {
  const subscribed = new Set<string>();
  mcp.registerResource(
    'channel-transcript',
    // Listed by the paged handler below, not by the template's own list callback.
    new ResourceTemplate('parley://channel/{id}', { list: undefined }),
    { description: 'The decrypted transcript of a channel', mimeType: 'text/plain' },
    (uri, { id }) => {
      try {
        return { contents: [{ uri: uri.href, mimeType: 'text/plain', text: node.transcript(String(id)) }] };
      } catch (err) {
        throw new Error(err instanceof ToolError ? err.message : 'transcript unavailable');
      }
    },
  );
  // Replaces the SDK's handler, which lists every resource in one answer (450 KB at 3,000 channels): a page at a
  // time in creation order, which new channels only extend, so a host following `nextCursor` misses none.
  mcp.server.setRequestHandler(ListResourcesRequestSchema, (req) => {
    const cursor = req.params?.cursor;
    const offset = cursor === undefined ? 0 : Number(cursor);
    if (!Number.isSafeInteger(offset) || offset < 0 || (cursor !== undefined && String(offset) !== cursor))
      throw new McpError(ErrorCode.InvalidParams, `Invalid cursor "${cursor}": pass back a nextCursor as given.`);
    const rows = node.channelRows().sort((a, b) => a.created_at - b.created_at || (a.ch < b.ch ? -1 : 1));
    const end = Math.min(rows.length, offset + RESOURCES_PAGE);
    return {
      resources: rows.slice(offset, end).map((r) => ({
        uri: `parley://channel/${r.ch}`,
        name: r.name,
        description: 'The decrypted transcript of a channel',
        mimeType: 'text/plain',
      })),
      ...(end < rows.length ? { nextCursor: String(end) } : {}),
    };
  });
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
      if (ch === null || uri === `parley://channel/${ch}`)
        void mcp.server.sendResourceUpdated({ uri }).catch(() => undefined);
    }
  };
  node.on('delivered', onDelivered);
  // An HTTP session (parley serve) ends long before its node: the listener goes with it.
  mcp.server.onclose = () => node.off('delivered', onDelivered);
}
