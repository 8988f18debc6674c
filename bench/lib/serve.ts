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
import type { Cleanup } from './cleanup.js';
import { benchEnv, CLI, toolCalls, type BenchNode } from './mcp.js';

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
  const env = benchEnv(home, opts);
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
  const node: BenchNode = {
    home: serve.home,
    pid: null,
    stderr: () => '',
    ...toolCalls(client),
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
