/**
 * Real `parley mcp` nodes for the benchmarks, driven over stdio with the MCP SDK client exactly as an agent host
 * drives them (same approach as tests/helpers/mcp.ts, which bench cannot import: tests are outside tsconfig).
 */
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Cleanup } from './cleanup.js';

export const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

export interface BenchNode {
  home: string;
  pid: number | null;
  stderr(): string;
  /** Calls a tool and returns its structured content; throws with the tool's text if it returned isError. */
  call<T = Record<string, unknown>>(name: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** Calls a tool and returns the whole result: its text block and structured content, as a host receives them. */
  result(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

/** A bench node's environment: its profile, its relays, and no posting limit. */
export function benchEnv(
  home: string,
  opts: { relays?: string[]; env?: Record<string, string> },
): Record<string, string> {
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    PARLEY_HOME: home,
    // Benches post far faster than an agent; the per-channel posting limit would refuse them.
    PARLEY_RATE_LIMIT_PER_MIN: '10000000',
    ...opts.env,
  };
  if (opts.relays) env.PARLEY_RELAY = opts.relays.join(',');
  return env;
}

/** A client's tool calls as the benches make them; both throw with the tool's text if it returned isError. */
export function toolCalls(client: Client): Pick<BenchNode, 'call' | 'result'> {
  const result = async (name: string, args: Record<string, unknown> = {}, timeoutMs = 120_000) => {
    const r = (await client.callTool({ name, arguments: args }, CallToolResultSchema, {
      timeout: timeoutMs,
    })) as CallToolResult;
    if (r.isError) throw new Error(`${name} failed: ${(r.content[0] as { text: string }).text}`);
    return r;
  };
  return {
    async call<T>(name: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
      return (await result(name, args, timeoutMs)).structuredContent as T;
    },
    result: (name, args) => result(name, args),
  };
}

export async function startNode(
  cleanup: Cleanup,
  opts: { relays?: string[]; env?: Record<string, string>; nodeArgs?: string[]; home?: string } = {},
): Promise<BenchNode> {
  const home = opts.home ?? cleanup.tempDir('parley-bench-node-');
  const env = benchEnv(home, opts);
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...(opts.nodeArgs ?? []), CLI, 'mcp'],
    env,
    stderr: 'pipe',
  });
  let errText = '';
  transport.stderr?.on('data', (d: Buffer) => {
    errText += d.toString();
  });
  const client = new Client({ name: 'parley-bench', version: '0.0.0' });
  let closed = false;
  const node: BenchNode = {
    home,
    pid: null,
    stderr: () => errText,
    ...toolCalls(client),
    async close() {
      if (closed) return;
      closed = true;
      // Closing stdin makes `parley mcp` shut down cleanly (SIGTERM/SIGKILL after 2 s each if it does not).
      await client.close().catch(() => undefined);
    },
  };
  // Registered before connecting so a failed start still kills the process.
  cleanup.add(() => node.close());
  await client.connect(transport);
  node.pid = transport.pid;
  return node;
}
