/**
 * Starts a real `parley serve` process for a test (127.0.0.1, port 0) and drives its /mcp with the SDK's Streamable
 * HTTP client, as a remote MCP host does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { CLI, tempHome, toolCalls, type ToolName, type ToolResults } from './mcp.js';

export interface SpawnedServe {
  url: string;
  home: string;
  token: string;
  /** The page's link as printed: `url/#token=…`. */
  page: string;
  process: ChildProcess;
  stderr(): string;
  /** SIGTERM and wait for the exit code; safe to call twice. */
  stop(): Promise<number | null>;
}

export function spawnServe(
  opts: { home?: string; relays?: string[]; args?: string[]; env?: Record<string, string> } = {},
): Promise<SpawnedServe> {
  const home = opts.home ?? tempHome('parley-serve-');
  const env: Record<string, string> = { ...(process.env as Record<string, string>), PARLEY_HOME: home, ...opts.env };
  if (opts.relays) env.PARLEY_RELAY = opts.relays.join(',');
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...(opts.args ?? [])], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`parley serve did not start within 20 s: ${stderr.trim()}`));
    }, 20_000);
    const early = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`parley serve exited with ${code}: ${stderr.trim()}`));
    };
    child.once('exit', early);
    let url = '';
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const listening = /^parley serve listening on (http:\/\/\S+)$/.exec(line);
      if (listening) url = listening[1];
      const page = /^page: (http:\/\/\S+\/#token=(\S+))$/.exec(line);
      if (!page || !url) return;
      clearTimeout(timer);
      child.off('exit', early);
      resolve({
        url,
        home,
        token: readFileSync(join(home, 'serve.token'), 'utf8').trim(),
        page: page[1],
        process: child,
        stderr: () => stderr,
        stop,
      });
    });
  });
}

export interface HttpNode {
  client: Client;
  transport: StreamableHTTPClientTransport;
  /**
   * Calls a tool and returns its structured content, typed as `TestNode.call`; throws with the tool's text if it
   * returned isError.
   */
  call<N extends ToolName>(name: N, args?: Record<string, unknown>, timeoutMs?: number): Promise<ToolResults[N]>;
  raw(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

/** An MCP client session over Streamable HTTP to a `parley serve`; `headers` replace the bearer header when given. */
export async function connectHttp(url: string, token: string, headers?: Record<string, string>): Promise<HttpNode> {
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', url), {
    requestInit: { headers: headers ?? { authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'parley-test-http', version: '0.0.0' });
  await client.connect(transport);
  let closed = false;
  return {
    client,
    transport,
    ...toolCalls(client),
    async close() {
      if (closed) return;
      closed = true;
      // Ends the session on the server (DELETE), then the client.
      await transport.terminateSession().catch(() => undefined);
      await client.close().catch(() => undefined);
    },
  };
}
