/**
 * `parley serve` end to end: a real relay, a real `parley serve` process driven over Streamable HTTP by the SDK
 * client, and real stdio `parley mcp` nodes. Auth (401), DNS-rebinding checks (403), the token file, tools,
 * notifications, a full guess game, and a bot that keeps answering once the owner's stdio host is gone.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { e2eScope } from '../helpers/scope.js';
import { collectUntil, tempHome, type ReadMessage } from '../helpers/mcp.js';
import { connectHttp, spawnServe, type HttpNode, type SpawnedServe } from '../helpers/serve.js';
import { until } from '../helpers/until.js';

const scope = e2eScope();

async function serve(opts: Parameters<typeof spawnServe>[0] = {}): Promise<SpawnedServe> {
  const s = await spawnServe(opts);
  scope.cleanup.push(() => s.stop());
  return s;
}

async function http(s: SpawnedServe): Promise<HttpNode> {
  const n = await connectHttp(s.url, s.token);
  scope.cleanup.push(() => n.close());
  return n;
}

const post = (url: string, headers: Record<string, string>) =>
  fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } },
    }),
  });

describe('parley serve: the gate', () => {
  it(
    'creates the token file with mode 0600, answers /healthz, and refuses missing or wrong tokens, foreign ' +
      'origins and hosts',
    async () => {
      const s = await serve();
      expect(statSync(join(s.home, 'serve.token')).mode & 0o777).toBe(0o600);
      expect(s.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(s.page).toBe(`${s.url}/#token=${s.token}`);
      expect(await (await fetch(`${s.url}/healthz`)).json()).toMatchObject({ ok: true });

      const none = await post(s.url, {});
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      expect((await none.json()).error).toMatch(/^Unauthorized: send Authorization: Bearer <token>/);
      expect((await post(s.url, { authorization: 'Bearer wrong' })).status).toBe(401);
      expect((await fetch(`${s.url}/api/channels`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(`${s.url}/api/channels`)).status).toBe(401);

      const evil = await post(s.url, { authorization: `Bearer ${s.token}`, origin: 'http://evil.example' });
      expect(evil.status).toBe(403);
      expect((await evil.json()).error).toMatch(/Origin/);
      // The page's own origin passes.
      expect((await post(s.url, { authorization: `Bearer ${s.token}`, origin: s.url })).status).toBe(200);

      // Host: fetch will not send a foreign Host header, so speak HTTP/1.1 by hand.
      const { request } = await import('node:http');
      const status = await new Promise<number>((resolve, reject) => {
        const u = new URL(s.url);
        request({ host: u.hostname, port: u.port, path: '/healthz', headers: { host: 'attacker.example' } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        })
          .on('error', reject)
          .end();
      });
      expect(status).toBe(403);

      // The SDK client with a wrong token fails to connect, with the 401 in its message.
      await expect(connectHttp(s.url, s.token, { authorization: 'Bearer nope' })).rejects.toMatchObject({ code: 401 });

      // The same token on the next start.
      expect(await s.stop()).toBe(0);
      const again = await serve({ home: s.home });
      expect(again.token).toBe(s.token);
    },
  );

  it('keeps one session per client until it ends: unknown session 404, no session 400, DELETE ends it', async () => {
    const s = await serve();
    const health = async () => (await (await fetch(`${s.url}/healthz`)).json()).sessions;
    const a = await connectHttp(s.url, s.token);
    const b = await connectHttp(s.url, s.token);
    expect(await health()).toBe(2);
    const id = a.transport.sessionId!;
    await a.close();
    expect(await health()).toBe(1);
    const headers = {
      authorization: `Bearer ${s.token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    const call = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    expect(
      (await fetch(`${s.url}/mcp`, { method: 'POST', headers: { ...headers, 'mcp-session-id': id }, body: call }))
        .status,
    ).toBe(404);
    const none = await fetch(`${s.url}/mcp`, { method: 'POST', headers, body: call });
    expect(none.status).toBe(400);
    expect((await none.json()).error.message).toBe(
      'Bad request: no Mcp-Session-Id header; start with an initialize request.',
    );
    expect((await fetch(`${s.url}/mcp`, { method: 'POST', headers, body: '{' })).status).toBe(400);
    expect((await b.client.listTools()).tools.length).toBeGreaterThan(10);
    await b.close();
    expect(await health()).toBe(0);
  });

  it('refuses to bind beyond loopback without --allowed-host', async () => {
    const { spawnSync } = await import('node:child_process');
    const { CLI } = await import('../helpers/mcp.js');
    const home = tempHome('parley-serve-');
    const r = spawnSync(process.execPath, [CLI, 'serve', '--host', '0.0.0.0', '--port', '0'], {
      env: { ...process.env, PARLEY_HOME: home },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /--host 0\.0\.0\.0 is not a loopback address: name the host clients will use with --allowed-host/,
    );
  });
});

describe('parley serve: MCP over Streamable HTTP', () => {
  it('chat between an HTTP client and a stdio node, with resource-update notifications over HTTP', async () => {
    const relay = await scope.relay();
    const s = await serve({ relays: [relay.url] });
    const alice = await http(s);
    const bob = await scope.node(relay.url);

    const listed = (await alice.client.listTools()).tools;
    expect(listed.map((t) => t.name)).toEqual(
      expect.arrayContaining(['create_channel', 'post_message', 'sync_messages', 'attach_bot', 'verify_channel']),
    );
    // Every tool has a title and hints; hosts can ask before the destructive ones.
    for (const t of listed) expect(t.title && t.annotations, t.name).toBeTruthy();
    const hint = (name: string) => listed.find((t) => t.name === name)!.annotations!;
    expect(
      listed
        .filter((t) => t.annotations!.destructiveHint)
        .map((t) => t.name)
        .sort(),
    ).toEqual(['leave_channel', 'update_channel']);
    expect(hint('sync_messages')).toMatchObject({ readOnlyHint: true });
    expect(hint('set_status')).toMatchObject({ idempotentHint: true, readOnlyHint: false });
    const created = await alice.call('create_channel', {
      name: 'over http',
      slots: ['invite:bob'],
      display_name: 'Alice',
    });
    const ch = created.channel as string;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });

    const updates: string[] = [];
    alice.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
    await alice.client.subscribeResource({ uri: `parley://channel/${ch}` });

    await alice.call('post_message', { channel: ch, body: 'hello from http' });
    await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'hello from http'));
    await bob.call('post_message', { channel: ch, body: 'hello from stdio' });
    const seen = await collectUntil(alice, ch, (all) => all.some((m) => m.body === 'hello from stdio'));
    expect(seen.find((m) => m.body === 'hello from stdio')).toMatchObject({ from: 'invite:bob', kind: 'chat' });
    await until(
      async () => updates,
      (u) => u.includes(`parley://channel/${ch}`),
    );
    const transcript = await alice.client.readResource({ uri: `parley://channel/${ch}` });
    expect((transcript.contents[0] as { text: string }).text).toContain('hello from stdio');

    // A long-poll over HTTP returns as soon as the stdio node posts.
    const { cursor } = await alice.call('sync_messages', { channel: ch });
    const waiting = alice.call('sync_messages', { channel: ch, cursor, wait_seconds: 20 });
    await bob.call('post_message', { channel: ch, body: 'wake up' });
    expect((await waiting).messages.map((m) => m.body)).toContain('wake up');

    // Errors are results with one sentence, as over stdio.
    const bad = await alice.raw('post_message', { channel: 'no such channel', body: 'x' });
    expect(bad.isError).toBe(true);
    expect((bad.content[0] as { text: string }).text).toMatch(/^Unknown channel "no such channel"/);
  });

  it('a full guess game between an HTTP client (the guesser) and a stdio node (the owner)', async () => {
    const relay = await scope.relay();
    const alice = await scope.node(relay.url);
    const s = await serve({ relays: [relay.url] });
    const bob = await http(s);
    const created = await alice.call('create_channel', {
      name: 'guess',
      slots: ['invite:bob', 'bot:guess'],
      bot: { preset: 'guess' },
    });
    const ch = created.channel as string;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
    let cursor: string | undefined;
    const seen: (ReadMessage & { used?: boolean })[] = [];
    const next = async (pred: (m: ReadMessage) => boolean) => {
      for (;;) {
        const i = seen.findIndex((m) => !m.used && pred(m));
        if (i >= 0) return Object.assign(seen[i], { used: true });
        const r = await bob.call('sync_messages', { channel: ch, cursor, limit: 500, wait_seconds: 10 });
        if (r.messages.length === 0) throw new Error(`no message; last seen ${JSON.stringify(seen.slice(-3))}`);
        cursor = r.cursor;
        seen.push(...r.messages);
      }
    };
    await next((m) => m.from === 'bot:guess' && m.kind === 'commitment');
    let [lo, hi, guesses] = [1, 100, 0];
    for (;;) {
      const g = Math.floor((lo + hi) / 2);
      await bob.call('post_message', { channel: ch, kind: 'guess', body: String(g) });
      guesses++;
      const hint = await next((m) => m.from === 'bot:guess' && m.kind === 'hint');
      if (hint.body === 'correct') break;
      if (hint.body === 'higher') lo = g + 1;
      else hi = g - 1;
      expect(guesses).toBeLessThan(8);
    }
    await next((m) => m.from === 'bot:guess' && m.kind === 'reveal');
    const report = await until(
      () => bob.call('verify_channel', { channel: ch }),
      (r) => r.bots[0]?.pending === 0 && r.bots[0]?.steps >= guesses + 1,
    );
    expect(report).toMatchObject({ ok: true, problems: [] });
    expect(report.bots[0].verified).toBe(report.bots[0].steps);
  });

  it(
    "a bot keeps answering while the owner's stdio host is closed and only parley serve runs for the " + 'owner',
    async () => {
      const relay = await scope.relay();
      const home = tempHome('parley-owner-');
      const owner = await scope.node(relay.url, { home });
      const created = await owner.call('create_channel', {
        name: 'echo room',
        slots: ['invite:bob', 'bot:echo'],
        bot: { preset: 'echo' },
      });
      const ch = created.channel as string;
      const bob = await scope.node(relay.url);
      await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
      // The owner's agent host goes away; the owner's always-on node takes over the same profile.
      await owner.close();
      await serve({ home, relays: [relay.url] });
      await bob.call('post_message', { channel: ch, body: 'anyone there?' });
      const seen = await collectUntil(
        bob,
        ch,
        (all) => all.some((m) => m.from === 'bot:echo' && m.body.includes('anyone there?')),
        30_000,
      );
      expect(seen.filter((m) => m.from === 'bot:echo').length).toBeGreaterThan(0);
    },
  );
});
