/**
 * `parley serve`'s HTTP server: one ParleyNode behind MCP over Streamable HTTP (`/mcp`, the SDK's server transport,
 * one McpServer per session), the page's JSON API (`/api/…`, node/serve/api.ts), the page itself (`/`) and
 * `/healthz`. Every request passes the Host check first, then the Origin check; `/mcp` and `/api` also need the
 * bearer token. The node and its channels are the caller's: `close()` stops HTTP and the MCP sessions only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ParleyNode } from '../service.js';
import { createMcpServer, type BotHooks } from '../mcp.js';
import { allowedHosts, bearerMatches, hostAllowed, originAllowed } from './auth.js';
import { HttpError, PageApi, readBody, sendJson } from './api.js';

/** Largest JSON-RPC request body (bytes): a bot's code is at most 256 KiB, JSON escaping can double it. */
export const MCP_BODY_LIMIT_BYTES = 1024 * 1024;
/**
 * Open MCP sessions at once; past it the least recently used one is closed (a host that vanished never says DELETE).
 */
export const MAX_SESSIONS = 64;

export interface ServeOptions {
  host: string;
  port: number;
  token: string;
  /** Host names (optionally host:port) accepted in the Host header besides the bound loopback address. */
  allowedHosts?: string[];
}

export interface ServeHandle {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

interface Session {
  transport: StreamableHTTPServerTransport;
  mcp: McpServer;
  used: number;
}

/** The page's files: HTML and CSS from web/, the script compiled from web/app.ts into dist/web/. */
const WEB = new URL('../../../web/', import.meta.url);
const STATIC: Record<string, { file: URL; type: string }> = {
  '/': { file: new URL('index.html', WEB), type: 'text/html; charset=utf-8' },
  '/style.css': { file: new URL('style.css', WEB), type: 'text/css; charset=utf-8' },
  '/app.js': { file: new URL('../dist/web/app.js', WEB), type: 'text/javascript; charset=utf-8' },
};
/** Scripts and styles from this server only, no framing, no referrer (the token lives in the fragment anyway). */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export async function startServe(node: ParleyNode, bots: BotHooks, opts: ServeOptions): Promise<ServeHandle> {
  const router = new Router(node, new PageApi(node, bots), new McpSessions(node, bots), opts.token);
  const server = createServer((req, res) => {
    router.handle(req, res).catch((err: unknown) => sendFailure(req, res, err));
  });
  await listen(server, opts.port, opts.host);
  const port = (server.address() as AddressInfo).port;
  router.allowed = allowedHosts(opts.host, port, opts.allowedHosts ?? []);
  const hostPart = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  let closed: Promise<void> | null = null;
  return {
    url: `http://${hostPart}:${port}`,
    port,
    server,
    close() {
      closed ??= (async () => {
        router.closing = true;
        await router.mcp.closeAll();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Long-polls and SSE streams would hold close() open until they end: end them now.
          server.closeAllConnections();
        });
      })();
      return closed;
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The answer to a request whose handling threw: the error's own status and words, or a logged 500. */
function sendFailure(req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const status = err instanceof HttpError ? err.status : 500;
  const message =
    err instanceof HttpError
      ? err.message
      : err instanceof Error && err.name === 'ToolError'
        ? err.message
        : 'Internal error.';
  if (status === 500) console.error(`parley serve: ${req.method} ${req.url?.split('?')[0]} failed:`, err);
  if (!res.headersSent)
    sendJson(res, err instanceof Error && err.name === 'ToolError' ? 400 : status, { error: message });
  else res.end();
}

/** The page's files, read once each. */
const files = new Map<string, Buffer>();
function staticFile(path: string): Buffer {
  let data = files.get(path);
  if (!data) {
    data = readFileSync(fileURLToPath(STATIC[path].file));
    files.set(path, data);
  }
  return data;
}

/** Sends each request where it belongs, after the Host, Origin and (for /mcp and /api) token checks. */
class Router {
  /** Host header values this server answers to; set once it listens and knows its port. */
  allowed = new Set<string>();
  closing = false;

  constructor(
    private readonly node: ParleyNode,
    private readonly api: PageApi,
    readonly mcp: McpSessions,
    private readonly token: string,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // DNS rebinding: a page on another site that resolves its name to 127.0.0.1 still sends its own Host and Origin.
    if (!hostAllowed(req.headers.host, this.allowed))
      return sendJson(res, 403, { error: 'Forbidden: the Host header does not name this server.' });
    if (!originAllowed(req.headers.origin, this.allowed))
      return sendJson(res, 403, { error: 'Forbidden: requests from another site (Origin) are refused.' });
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/healthz')
      return sendJson(res, 200, {
        ok: !this.closing,
        channels: this.node.channelRows().length,
        sessions: this.mcp.size,
      });
    if (path === '/mcp' || path.startsWith('/api/')) return this.authorized(req, res, url);
    if (req.method === 'GET' && Object.hasOwn(STATIC, path)) {
      res.writeHead(200, { 'content-type': STATIC[path].type, ...PAGE_HEADERS });
      res.end(staticFile(path));
      return;
    }
    sendJson(res, 404, { error: `Not found: ${path}` });
  }

  /** /mcp and /api/…: only with the bearer token. */
  private async authorized(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    if (!bearerMatches(req.headers.authorization, this.token)) {
      return sendJson(
        res,
        401,
        { error: 'Unauthorized: send Authorization: Bearer <token> (the token is in $PARLEY_HOME/serve.token).' },
        { 'www-authenticate': 'Bearer' },
      );
    }
    if (this.closing) return sendJson(res, 503, { error: 'parley serve is shutting down.' });
    if (path === '/mcp') return this.mcp.handle(req, res);
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    if (await this.api.handle(req, res, url, abort.signal)) return;
    return sendJson(res, 404, { error: `No API route ${req.method} ${path}.` });
  }
}

/** A JSON-RPC error answer with no request id (the request could not be read or routed). */
function sendRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });
}

/** MCP over Streamable HTTP, the SDK's pattern: one transport and one McpServer per session, all on the same node. */
class McpSessions {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly node: ParleyNode,
    private readonly bots: BotHooks,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  async close(id: string): Promise<void> {
    const s = this.sessions.get(id);
    if (!s) return;
    this.sessions.delete(id);
    await s.mcp.close().catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.sessions.keys()].map((id) => this.close(id)));
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const header = req.headers['mcp-session-id'];
    const id = Array.isArray(header) ? header[0] : header;
    let body: unknown;
    if (req.method === 'POST') {
      const text = await readBody(req, MCP_BODY_LIMIT_BYTES);
      try {
        body = JSON.parse(text);
      } catch {
        return sendRpcError(res, 400, -32700, 'Parse error: the body is not JSON.');
      }
    }
    if (id !== undefined) {
      const s = this.sessions.get(id);
      if (!s) return sendRpcError(res, 404, -32001, 'Session not found: initialize a new session.');
      s.used = Date.now();
      await s.transport.handleRequest(req, res, body);
      return;
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      return sendRpcError(res, 400, -32000, 'Bad request: no Mcp-Session-Id header; start with an initialize request.');
    }
    await this.open(req, res, body);
  }

  /** A new session, from its initialize request. */
  private async open(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    const mcp = createMcpServer(this.node, this.bots);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      // A plain JSON answer per POST instead of a one-event SSE stream: a tool call costs about 1.5 ms less
      // (npm run bench -- latency). Notifications still reach the client, on its GET stream.
      enableJsonResponse: true,
      onsessioninitialized: (sid) => {
        this.sessions.set(sid, { transport, mcp, used: Date.now() });
        if (this.sessions.size > MAX_SESSIONS) {
          const oldest = [...this.sessions.entries()].sort((a, b) => a[1].used - b[1].used)[0][0];
          void this.close(oldest);
        }
      },
      onsessionclosed: (sid) => void this.close(sid),
    });
    transport.onclose = () => {
      if (transport.sessionId) this.sessions.delete(transport.sessionId);
    };
    await mcp.connect(transport);
    await transport.handleRequest(req, res, body);
  }
}
