/**
 * `parley serve`'s gate: the bearer token kept in the profile, and the DNS-rebinding checks (Host must name this
 * server, a browser's Origin must be this server's own). Pure checks on header values; the HTTP layer applies them.
 */
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const TOKEN_FILE = 'serve.token';
/** 32 random bytes, base64url: 43 characters. */
const TOKEN_BYTES = 32;

/** Reads `$PARLEY_HOME/serve.token`, creating it (one line, mode 0600) on first start. */
export function loadOrCreateToken(home: string): string {
  const path = join(home, TOKEN_FILE);
  try {
    const token = readFileSync(path, 'utf8').trim();
    if (token.length < 16)
      throw new Error(
        `${path} holds no usable token (fewer than 16 characters); delete it and start parley serve again to ` +
          `create a new one.`,
      );
    return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(TOKEN_BYTES).toString('base64url');
  // 'wx': two processes starting at once must not overwrite each other's token.
  try {
    writeFileSync(path, token + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateToken(home);
    throw err;
  }
  // The umask may have narrowed the mode further but never widens it; chmod makes it exactly 0600.
  chmodSync(path, 0o600);
  return token;
}

/** Constant-time comparison of an `Authorization` header with `Bearer <token>` (hashing first evens the lengths). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return false;
  const a = createHash('sha256').update(m[1]).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The Host header values this server answers to: the bound loopback name (and its `localhost` alias) with the port,
 * plus every `--allowed-host` (with or without a port, since a TLS proxy in front may use its own).
 */
export function allowedHosts(bound: string, port: number, extra: string[]): Set<string> {
  const hosts = new Set<string>();
  const add = (h: string) => {
    const name = h.toLowerCase();
    const bracketed = name.includes(':') && !name.startsWith('[') ? `[${name}]` : name;
    hosts.add(`${bracketed}:${port}`);
    return bracketed;
  };
  if (isLoopback(bound)) {
    add(bound);
    add('localhost');
    if (bound === '127.0.0.1') add('127.0.0.1');
  }
  for (const h of extra) {
    const lower = h.toLowerCase();
    // An allowed host given with a port is matched exactly; without one, on any port.
    if (/:\d+$/.test(lower) && !lower.endsWith(']')) hosts.add(lower);
    else hosts.add(add(lower));
  }
  return hosts;
}

export function hostAllowed(header: string | undefined, allowed: Set<string>): boolean {
  if (!header) return false;
  const host = header.toLowerCase();
  if (allowed.has(host)) return true;
  // A host allowed without a port: accept it on any port.
  const bare = host.replace(/:\d+$/, '');
  return bare !== host && allowed.has(bare);
}

/**
 * A request without Origin comes from a non-browser client (an MCP host, curl) and passes; a browser's Origin must
 * name one of the allowed hosts, over http or https (a TLS proxy in front).
 */
export function originAllowed(origin: string | undefined, allowed: Set<string>): boolean {
  if (origin === undefined) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return hostAllowed(`${url.hostname}:${port}`, allowed);
}
