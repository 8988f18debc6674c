/**
 * Real `parley serve` processes for the benchmarks, driven over Streamable HTTP with the MCP SDK client as a remote
 * agent host drives them (tests/helpers/serve.ts does the same for tests, which bench cannot import).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Cleanup } from './cleanup.js';
import { CLI, type BenchNode } from './mcp.js';

export interface BenchServe {
  url: string;
  home: string;
  token: string;
  /** The page's link, `url/#token=…`. */
  page: string;
}

export async function startServe(
  cleanup: Cleanup,
  opts: { relays?: string[]; env?: Record<string, string>; home?: string } = {},
): Promise<BenchServe> {
  const home = opts.home ?? cleanup.tempDir('parley-bench-serve-');
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    PARLEY_HOME: home,
    // As in lib/mcp.ts: benches post far faster than an agent.
    PARLEY_RATE_LIMIT_PER_MIN: '10000000',
    ...opts.env,
  };
  if (opts.relays) env.PARLEY_RELAY = opts.relays.join(',');
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanup.add(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`parley serve did not start in 30 s: ${stderr}`)), 30_000);
    void exited.then(() => reject(new Error(`parley serve exited: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^parley serve listening on (\S+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  const token = readFileSync(join(home, 'serve.token'), 'utf8').trim();
  return { url, home, token, page: `${url}/#token=${token}` };
}

/** An MCP session over Streamable HTTP, with the same shape as a stdio BenchNode. */
export async function connectHttp(cleanup: Cleanup, serve: BenchServe): Promise<BenchNode> {
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', serve.url), {
    requestInit: { headers: { authorization: `Bearer ${serve.token}` } },
  });
  const client = new Client({ name: 'parley-bench-http', version: '0.0.0' });
  let closed = false;
  const result = async (name: string, args: Record<string, unknown> = {}, timeoutMs = 120_000) => {
    const r = (await client.callTool({ name, arguments: args }, CallToolResultSchema, {
      timeout: timeoutMs,
    })) as CallToolResult;
    if (r.isError) throw new Error(`${name} failed: ${(r.content[0] as { text: string }).text}`);
    return r;
  };
  const node: BenchNode = {
    home: serve.home,
    pid: null,
    stderr: () => '',
    async call<T>(name: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
      return (await result(name, args, timeoutMs)).structuredContent as T;
    },
    result: (name, args) => result(name, args),
    async close() {
      if (closed) return;
      closed = true;
      await transport.terminateSession().catch(() => undefined);
      await client.close().catch(() => undefined);
    },
  };
  cleanup.add(() => node.close());
  await client.connect(transport);
  return node;
}
