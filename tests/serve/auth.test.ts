/** node/serve/auth.ts: the token file, the bearer comparison and the Host / Origin checks, exactly. */
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  allowedHosts,
  bearerMatches,
  hostAllowed,
  isLoopback,
  loadOrCreateToken,
  originAllowed,
} from '../../node/serve/auth.js';

describe('serve token', () => {
  it('is created once, one line, mode 0600, and read back after', () => {
    const home = mkdtempSync(join(tmpdir(), 'parley-token-'));
    const token = loadOrCreateToken(home);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(join(home, 'serve.token')).mode & 0o777).toBe(0o600);
    expect(loadOrCreateToken(home)).toBe(token);
  });

  it('refuses a file without a usable token, in one sentence', () => {
    const home = mkdtempSync(join(tmpdir(), 'parley-token-'));
    writeFileSync(join(home, 'serve.token'), '\n');
    expect(() => loadOrCreateToken(home)).toThrow(/holds no usable token .* delete it and start parley serve again/);
  });

  it('compares bearer headers exactly', () => {
    expect(bearerMatches('Bearer abc123abc123abc123', 'abc123abc123abc123')).toBe(true);
    expect(bearerMatches('bearer abc123abc123abc123', 'abc123abc123abc123')).toBe(true);
    expect(bearerMatches('Bearer abc123abc123abc12', 'abc123abc123abc123')).toBe(false);
    expect(bearerMatches('Basic abc123abc123abc123', 'abc123abc123abc123')).toBe(false);
    expect(bearerMatches(undefined, 'abc123abc123abc123')).toBe(false);
    expect(bearerMatches('Bearer', 'abc123abc123abc123')).toBe(false);
  });
});

describe('Host and Origin', () => {
  const local = allowedHosts('127.0.0.1', 4456, []);

  it('answers to the bound loopback address and localhost on its port only', () => {
    expect(hostAllowed('127.0.0.1:4456', local)).toBe(true);
    expect(hostAllowed('localhost:4456', local)).toBe(true);
    expect(hostAllowed('LOCALHOST:4456', local)).toBe(true);
    expect(hostAllowed('127.0.0.1:4457', local)).toBe(false);
    expect(hostAllowed('evil.example:4456', local)).toBe(false);
    expect(hostAllowed('127.0.0.1', local)).toBe(false);
    expect(hostAllowed(undefined, local)).toBe(false);
  });

  it('takes --allowed-host with or without a port', () => {
    const hosts = allowedHosts('0.0.0.0', 4456, ['parley.example', 'other.example:8443']);
    expect(hostAllowed('parley.example', hosts)).toBe(true);
    expect(hostAllowed('parley.example:443', hosts)).toBe(true);
    expect(hostAllowed('other.example:8443', hosts)).toBe(true);
    expect(hostAllowed('other.example:443', hosts)).toBe(false);
    expect(hostAllowed('0.0.0.0:4456', hosts)).toBe(false);
  });

  it("lets requests without Origin through and only the server's own origins otherwise", () => {
    expect(originAllowed(undefined, local)).toBe(true);
    expect(originAllowed('http://127.0.0.1:4456', local)).toBe(true);
    expect(originAllowed('http://localhost:4456', local)).toBe(true);
    expect(originAllowed('http://evil.example', local)).toBe(false);
    expect(originAllowed('http://127.0.0.1:9999', local)).toBe(false);
    expect(originAllowed('null', local)).toBe(false);
    expect(originAllowed('file:///etc/passwd', local)).toBe(false);
    const proxied = allowedHosts('127.0.0.1', 4456, ['parley.example']);
    expect(originAllowed('https://parley.example', proxied)).toBe(true);
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) expect(isLoopback(h)).toBe(true);
    for (const h of ['0.0.0.0', '192.168.1.2', '::', 'example.org']) expect(isLoopback(h)).toBe(false);
  });
});
