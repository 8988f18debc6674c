/** Starts real `parley mcp` processes and drives them with the MCP SDK client over stdio, as an agent host does. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ParleyNode } from '../../node/service.js';
import type { Message } from '../../node/messages.js';
import type {
  BotInfo,
  ChannelEntry,
  CompactBot,
  CompactMessage,
  CompactSync,
  CompactWho,
  SyncResult,
  VerifyResult,
  WhoMember,
  WhoResult,
} from '../../node/compact.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** A message as `sync_messages` returns it: compact (the default) or full (`detail: "full"`) fields. */
export type ReadMessage = Pick<Message, 'seq' | 'from' | 'kind' | 'body'> & Partial<Message> & Partial<CompactMessage>;

/** A member as `who` returns it (compact leaves out the key). */
export type ReadMember = Omit<WhoMember, 'id'> & { id?: string };

/** Each tool's structured result, from the node's own types; where compact and full differ, fields of either. */
export interface ToolResults {
  create_channel: {
    channel: string;
    name: string;
    slot: string;
    invites: Record<string, string>;
    bots: { slot: string; code_hash: string }[];
  };
  join_channel: Awaited<ReturnType<ParleyNode['joinChannel']>>;
  post_message: ReturnType<ParleyNode['postMessage']>;
  sync_messages: { channel?: string; messages: ReadMessage[]; cursor: string; more: boolean };
  who: {
    members: ReadMember[];
    waiting: { slot: string; id?: string; name: string }[];
    withholding: string[];
    refused_relays: string[];
  };
  list_channels: { channels: ChannelEntry[]; total: number };
  set_status: { ok: boolean };
  update_channel: Awaited<ReturnType<ParleyNode['updateChannel']>>;
  leave_channel: { ok: boolean };
  verify_channel: VerifyResult;
  attach_bot: { slot: string; code_hash: string };
  get_bot: CompactBot & Partial<Pick<BotInfo, 'code' | 'runner'>>;
  hand_over_bot: { slot: string; runner: string; runner_slot: string; from_step: number };
}

export type ToolName = keyof ToolResults;

/** Results with `detail: "full"`. */
export type FullResults = Omit<ToolResults, 'sync_messages' | 'who' | 'get_bot'> & {
  sync_messages: SyncResult;
  who: WhoResult;
  get_bot: BotInfo;
};

/** Results with the default, compact detail. */
export type CompactResults = Omit<ToolResults, 'sync_messages' | 'who' | 'get_bot'> & {
  sync_messages: CompactSync;
  who: CompactWho;
  get_bot: CompactBot;
};

export interface TestNode {
  home: string;
  client: Client;
  transport: StdioClientTransport;
  stderr: () => string;
  /** Calls a tool and returns its structured content; throws with the tool's text if it returned isError. */
  call<N extends ToolName>(name: N, args?: Record<string, unknown>, timeoutMs?: number): Promise<ToolResults[N]>;
  /** Calls a tool and returns the raw result (for isError assertions). */
  raw(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

export function tempHome(prefix = 'parley-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startNode(
  opts: { home?: string; relays?: string[]; env?: Record<string, string> } = {},
): Promise<TestNode> {
  const home = opts.home ?? tempHome();
  const env: Record<string, string> = { ...(process.env as Record<string, string>), PARLEY_HOME: home, ...opts.env };
  if (opts.relays) env.PARLEY_RELAY = opts.relays.join(',');
  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp'], env, stderr: 'pipe' });
  let errText = '';
  transport.stderr?.on('data', (d: Buffer) => {
    errText += d.toString();
  });
  const client = new Client({ name: 'parley-test', version: '0.0.0' });
  await client.connect(transport);
  let closed = false;
  return {
    home,
    client,
    transport,
    stderr: () => errText,
    ...toolCalls(client),
    async close() {
      if (closed) return;
      closed = true;
      await client.close().catch(() => undefined);
    },
  };
}

/**
 * A client's tool calls as the tests make them: `raw` returns the whole result; `call` returns its structured
 * content, or throws with the tool's one sentence when it returned isError.
 */
export function toolCalls(client: Client): Pick<TestNode, 'raw' | 'call'> {
  const raw = async (name: string, args: Record<string, unknown> = {}, timeoutMs = 60_000) =>
    (await client.callTool({ name, arguments: args }, CallToolResultSchema, { timeout: timeoutMs })) as CallToolResult;
  return {
    raw: (name, args) => raw(name, args),
    async call(name, args = {}, timeoutMs = 60_000) {
      const r = await raw(name, args, timeoutMs);
      if (r.isError) throw new Error(`${name} failed: ${(r.content[0] as { text: string }).text}`);
      return r.structuredContent as ToolResults[typeof name];
    },
  };
}

export function removeHome(home: string): void {
  rmSync(home, { recursive: true, force: true });
}

export const errorText = (r: CallToolResult): string => (r.content[0] as { text: string }).text;

/** The structured result of a `raw` call of `tool` made with the default, compact detail. */
export const compactResult = <N extends ToolName>(_tool: N, r: CallToolResult): CompactResults[N] =>
  r.structuredContent as CompactResults[N];

/** The structured result of a `raw` call of `tool`, compact or full. */
export const toolResult = <N extends ToolName>(_tool: N, r: CallToolResult): ToolResults[N] =>
  r.structuredContent as ToolResults[N];

/**
 * Polls `sync_messages` on a node until `predicate` holds for all messages seen so far (compact unless `detail` is
 * "full").
 */
export async function collectUntil(
  node: Pick<TestNode, 'call'>,
  channel: string,
  predicate: (all: ReadMessage[]) => boolean,
  timeoutMs = 20_000,
  detail: 'compact' | 'full' = 'compact',
): Promise<ReadMessage[]> {
  const all: ReadMessage[] = [];
  let cursor: string | undefined;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await node.call('sync_messages', { channel, cursor, limit: 500, wait_seconds: 1, detail });
    all.push(...r.messages);
    cursor = r.cursor;
    if (predicate(all)) return all;
  }
  throw new Error(`timed out after ${timeoutMs} ms with ${all.length} messages`);
}
