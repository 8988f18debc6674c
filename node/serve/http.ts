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
  const api = new PageApi(node, bots);
  const sessions = new Map<string, Session>();
  const files = new Map<string, Buffer>();
  const fileOf = (path: string) => {
    let data = files.get(path);
    if (!data) {
      data = readFileSync(fileURLToPath(STATIC[path].file));
      files.set(path, data);
    }
    return data;
  };
  let allowed = new Set<string>();
  let closing = false;

  async function closeSession(id: string): Promise<void> {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    await s.mcp.close().catch(() => undefined);
  }

  async function handleMcp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const header = req.headers['mcp-session-id'];
    const id = Array.isArray(header) ? header[0] : header;
    let body: unknown;
    if (req.method === 'POST') {
      const text = await readBody(req, MCP_BODY_LIMIT_BYTES);
      try {
        body = JSON.parse(text);
      } catch {
        sendJson(res, 400, {
          jsonrpc: '2.0',
          error: { code: -32700, message: 'Parse error: the body is not JSON.' },
          id: null,
        });
        return;
      }
    }
    if (id !== undefined) {
      const s = sessions.get(id);
      if (!s) {
        sendJson(res, 404, {
          jsonrpc: '2.0',
          error: { code: -32001, message: 'Session not found: initialize a new session.' },
          id: null,
        });
        return;
      }
      s.used = Date.now();
      await s.transport.handleRequest(req, res, body);
      return;
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      sendJson(res, 400, {
        jsonrpc: '2.0',
        error: { code: -32000, message: 'Bad request: no Mcp-Session-Id header; start with an initialize request.' },
        id: null,
      });
      return;
    }
    // The SDK's pattern: one transport and one McpServer per session, all on the same node.
    const mcp = createMcpServer(node, bots);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      // A plain JSON answer per POST instead of a one-event SSE stream: a tool call costs about 1.5 ms less
      // (npm run bench -- latency). Notifications still reach the client, on its GET stream.
      enableJsonResponse: true,
      onsessioninitialized: (sid) => {
        sessions.set(sid, { transport, mcp, used: Date.now() });
        if (sessions.size > MAX_SESSIONS) {
          const oldest = [...sessions.entries()].sort((a, b) => a[1].used - b[1].used)[0][0];
          void closeSession(oldest);
        }
      },
      onsessionclosed: (sid) => void closeSession(sid),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await mcp.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // DNS rebinding: a page on another site that resolves its name to 127.0.0.1 still sends its own Host and Origin.
    if (!hostAllowed(req.headers.host, allowed))
      return sendJson(res, 403, { error: 'Forbidden: the Host header does not name this server.' });
    if (!originAllowed(req.headers.origin, allowed))
      return sendJson(res, 403, { error: 'Forbidden: requests from another site (Origin) are refused.' });
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/healthz')
      return sendJson(res, 200, { ok: !closing, channels: node.channels.size, sessions: sessions.size });
    if (path === '/mcp' || path.startsWith('/api/')) {
      if (!bearerMatches(req.headers.authorization, opts.token)) {
        return sendJson(
          res,
          401,
          { error: 'Unauthorized: send Authorization: Bearer <token> (the token is in $PARLEY_HOME/serve.token).' },
          { 'www-authenticate': 'Bearer' },
        );
      }
      if (closing) return sendJson(res, 503, { error: 'parley serve is shutting down.' });
      if (path === '/mcp') return handleMcp(req, res);
      const abort = new AbortController();
      res.on('close', () => abort.abort());
      if (await api.handle(req, res, url, abort.signal)) return;
      return sendJson(res, 404, { error: `No API route ${req.method} ${path}.` });
    }
    if (req.method === 'GET' && Object.hasOwn(STATIC, path)) {
      res.writeHead(200, { 'content-type': STATIC[path].type, ...PAGE_HEADERS });
      res.end(fileOf(path));
      return;
    }
    sendJson(res, 404, { error: `Not found: ${path}` });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
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
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  allowed = allowedHosts(opts.host, port, opts.allowedHosts ?? []);
  const hostPart = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  let closed: Promise<void> | null = null;
  return {
    url: `http://${hostPart}:${port}`,
    port,
    server,
    close() {
      closed ??= (async () => {
        closing = true;
        await Promise.all([...sessions.keys()].map(closeSession));
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
