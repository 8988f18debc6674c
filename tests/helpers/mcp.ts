/** Starts real `parley mcp` processes and drives them with the MCP SDK client over stdio, as an agent host does. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface TestNode {
  home: string;
  client: Client;
  transport: StdioClientTransport;
  stderr: () => string;
  /** Calls a tool and returns its structured content; throws with the tool's text if it returned isError. */
  call<T = Record<string, any>>(name: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** Calls a tool and returns the raw result (for isError assertions). */
  raw(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

export function tempHome(prefix = 'parley-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startNode(opts: { home?: string; relays?: string[]; env?: Record<string, string> } = {}): Promise<TestNode> {
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
  const raw = async (name: string, args: Record<string, unknown> = {}, timeoutMs = 60_000) =>
    (await client.callTool({ name, arguments: args }, CallToolResultSchema, { timeout: timeoutMs })) as CallToolResult;
  let closed = false;
  return {
    home,
    client,
    transport,
    stderr: () => errText,
    raw: (name, args) => raw(name, args),
    async call(name, args = {}, timeoutMs = 60_000) {
      const r = await raw(name, args, timeoutMs);
      if (r.isError) throw new Error(`${name} failed: ${(r.content[0] as { text: string }).text}`);
      return r.structuredContent as any;
    },
    async close() {
      if (closed) return;
      closed = true;
      await client.close().catch(() => undefined);
    },
  };
}

export function removeHome(home: string): void {
  rmSync(home, { recursive: true, force: true });
}

export const errorText = (r: CallToolResult): string => (r.content[0] as { text: string }).text;

/** Polls `sync_messages` on a node until `predicate` holds for all messages seen so far (compact unless `detail` is "full"). */
export async function collectUntil(
  node: TestNode,
  channel: string,
  predicate: (all: any[]) => boolean,
  timeoutMs = 20_000,
  detail: 'compact' | 'full' = 'compact',
): Promise<any[]> {
  const all: any[] = [];
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
