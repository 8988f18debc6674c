/**
 * node/mcp.ts and its tool groups (node/tools/): every tool of the contract is registered, with its title and hints,
 * the bot tools only on a node that runs bots, and `toolOn` turns a ToolError into a one-sentence isError result
 * that is audited. Driven in memory against a stand-in node, so no relay or profile is needed.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { describe, expect, it } from 'vitest';
import { createMcpServer, RESOURCES_PAGE, type BotHooks } from '../../node/mcp.js';
import { ToolError } from '../../node/errors.js';
import type { ParleyNode } from '../../node/service.js';
import { TOOL_HINTS } from '../../node/tool-hints.js';

const BOT_TOOLS = ['attach_bot', 'get_bot', 'hand_over_bot'];

/** A node that answers `leave_channel` with a ToolError and records what is audited. */
function standIn() {
  const audited: string[] = [];
  const node = {
    channels: new Map(),
    on() {},
    off() {},
    audit(tool: string, channel: string | null, outcome: string) {
      audited.push(`${tool} ${channel} ${outcome}`);
    },
    leaveChannel() {
      throw new ToolError('No channel "x".');
    },
    setStatus() {
      return { ok: true };
    },
    // 250 channels, listed newest first: resources/list must page them in creation order.
    channelRows() {
      return Array.from({ length: 250 }, (_, i) => ({ ch: `ch${249 - i}`, name: `c ${249 - i}`, created_at: 249 - i }));
    },
  };
  return { node: node as unknown as ParleyNode, audited };
}

async function connect(node: ParleyNode, bots?: BotHooks): Promise<Client> {
  const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
  await createMcpServer(node, bots).connect(serverSide);
  const client = new Client({ name: 'tools-test', version: '1' });
  await client.connect(clientSide);
  return client;
}

const bots: BotHooks = {
  attachBot: () => ({ slot: 'bot:x', code_hash: 'h' }),
  getBot: () => ({}),
  handOverBot: () => ({ slot: 'bot:x', runner: 'r', runner_slot: 'owner', from_step: 0 }),
};

describe('MCP tool groups', () => {
  it('register every tool of the contract, each with its title, on a node that runs bots', async () => {
    const client = await connect(standIn().node, bots);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(Object.keys(TOOL_HINTS).sort());
    for (const t of tools) {
      expect(t.title ?? t.annotations?.title).toBe(TOOL_HINTS[t.name].title);
      expect(t.description).toMatch(/\w/);
      expect(t.inputSchema.type).toBe('object');
      expect(t.outputSchema?.type).toBe('object');
    }
    await client.close();
  });

  it('leave out the bot tools on a node without bot support', async () => {
    const client = await connect(standIn().node);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names.sort()).toEqual(
      Object.keys(TOOL_HINTS)
        .filter((n) => !BOT_TOOLS.includes(n))
        .sort(),
    );
    await client.close();
  });

  it('return a ToolError as one sentence with isError, and audit both outcomes', async () => {
    const { node, audited } = standIn();
    const client = await connect(node);
    const failed = await client.callTool({ name: 'leave_channel', arguments: { channel: 'x' } });
    expect(failed.isError).toBe(true);
    expect(failed.content).toEqual([{ type: 'text', text: 'No channel "x".' }]);
    const ok = await client.callTool({ name: 'set_status', arguments: { channel: 'x', status: 'working' } });
    expect(ok.structuredContent).toEqual({ ok: true });
    expect(audited).toEqual(['leave_channel x error: No channel "x".', 'set_status x ok']);
    await client.close();
  });

  it('list transcript resources a page at a time, in creation order, and refuse a made-up cursor', async () => {
    const client = await connect(standIn().node);
    const uris: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await client.listResources(cursor === undefined ? {} : { cursor });
      expect(page.resources.length).toBeLessThanOrEqual(RESOURCES_PAGE);
      uris.push(...page.resources.map((r) => r.uri));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined);
    expect(pages).toBe(Math.ceil(250 / RESOURCES_PAGE));
    expect(uris).toEqual(Array.from({ length: 250 }, (_, i) => `parley://channel/ch${i}`));
    for (const bad of ['-1', 'abc', '1e3', ' 5'])
      await expect(client.listResources({ cursor: bad })).rejects.toThrow(/Invalid cursor/);
    await client.close();
  });
});
