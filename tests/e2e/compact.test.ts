/**
 * Compact and full results over MCP stdio, on one node whose relay is unreachable (everything here is local): the
 * text block is exactly the rendering of the structured content, compact drops what it should, full keeps it all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  renderCompactBot,
  renderCompactChannels,
  renderCompactSync,
  renderCompactVerify,
  renderCompactWho,
} from '../../node/compact.js';
import { until } from '../helpers/until.js';
import {
  removeHome,
  startNode,
  type CompactResults,
  type FullResults,
  type TestNode,
  type ToolName,
} from '../helpers/mcp.js';

let n: TestNode;
let ch: string;
beforeAll(async () => {
  n = await startNode({ relays: ['ws://127.0.0.1:9'] });
  ch = (
    await n.call('create_channel', {
      name: 'solo game',
      slots: ['invite:bob', 'bot:guess'],
      bot: { preset: 'guess' },
      display_name: 'Alice',
    })
  ).channel;
  await n.call('post_message', { channel: ch, kind: 'guess', body: '50' });
  await n.call('post_message', { channel: ch, body: 'two\nlines', to: 'invite:bob', meta: { files: ['a.ts'] } });
});
afterAll(async () => {
  await n.close();
  removeHome(n.home);
});

const both = async <N extends ToolName>(tool: N, args: Record<string, unknown>) => {
  const compact = await n.raw(tool, args);
  const full = await n.raw(tool, { ...args, detail: 'full' });
  for (const r of [compact, full]) expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
  const text = (r: typeof compact) => (r.content[0] as { text: string }).text;
  return {
    compact: { s: compact.structuredContent as CompactResults[N], text: text(compact) },
    full: { s: full.structuredContent as FullResults[N], text: text(full) },
  };
};

describe('compact and full results', () => {
  it('sync_messages: one line per message, the same fields as the structured content; full has every id', async () => {
    // The bot answers the guess on its own time: wait for its hint (a read from cursor 0 returns at once).
    const { compact, full } = await until(
      () => both('sync_messages', { channel: ch, cursor: '0', limit: 500 }),
      (r) => r.compact.s.messages.some((m) => m.kind === 'hint'),
      {
        what: "the bot's hint",
      },
    );
    expect(compact.text).toBe(renderCompactSync(compact.s));
    expect(compact.s.channel).toBe(ch);
    // The bot may step between the two calls: compare up to the compact call's cursor.
    expect(compact.s.messages.map((m) => m.seq)).toEqual(
      full.s.messages.filter((m) => m.seq <= Number(compact.s.cursor)).map((m) => m.seq),
    );
    const hint = compact.s.messages.find((m) => m.kind === 'hint');
    expect(hint).toMatchObject({
      from: 'bot:guess',
      to: 'owner',
      verification: expect.stringMatching(/verified|pending/),
    });
    expect(compact.text).toContain(`owner [${hint?.verification}]: ${hint?.body}`);
    expect(compact.text).toContain('owner chat → invite:bob meta {"files":["a.ts"]}: two\n  lines');
    for (const m of full.s.messages) {
      expect(m).toMatchObject({
        channel: ch,
        id: expect.any(String),
        author: expect.any(String),
        ts: expect.any(Number),
      });
      expect(compact.text).not.toContain(m.author);
    }
    expect(full.text).toBe(JSON.stringify(full.s));
    expect(full.text.length).toBeGreaterThan(2 * compact.text.length);
  });

  it('sync_messages over every channel names the channel on each message', async () => {
    const { compact } = await both('sync_messages', { cursor: '0', limit: 500 });
    expect(compact.s.channel).toBeUndefined();
    expect(compact.s.messages.every((m) => m.channel === ch)).toBe(true);
    expect(compact.text).toBe(renderCompactSync(compact.s));
    expect(compact.text.split('\n')[1]).toContain(` @${ch} `);
  });

  it(
    'who, list_channels, get_bot and verify_channel render their structured content; full keeps ' + 'keys and source',
    async () => {
      const who = await both('who', { channel: ch });
      expect(who.compact.text).toBe(renderCompactWho(who.compact.s));
      expect(who.compact.s.members.map((m) => m.slot)).toEqual(who.full.s.members.map((m) => m.slot));
      expect(who.compact.s.members.some((m) => 'id' in m)).toBe(false);
      expect(who.full.s.members.find((m) => m.slot === 'owner')?.id).toHaveLength(43);

      const list = await both('list_channels', {});
      expect(list.compact.text).toBe(renderCompactChannels(list.compact.s));
      expect(list.compact.s.channels[0]).toMatchObject({
        channel: ch,
        name: 'solo game',
        slot: 'owner',
        epoch: 0,
        closed: false,
      });

      const bot = await both('get_bot', { channel: ch, slot: 'bot:guess' });
      expect(bot.compact.text).toBe(renderCompactBot(bot.compact.s));
      expect(bot.compact.s).not.toHaveProperty('code');
      expect(bot.full.s.code).toContain('export default');
      expect(bot.full.s.code_hash.startsWith(bot.compact.s.code_hash.slice(0, -1))).toBe(true);

      const v = await both('verify_channel', { channel: ch });
      expect(v.compact.text).toBe(renderCompactVerify(v.compact.s));
      expect(Object.keys(v.compact.s).sort()).toEqual(['bots', 'events', 'ok', 'problems']);
      expect(v.compact.s.bots.map((b) => b.slot)).toEqual(v.full.s.bots.map((b) => b.slot));
      expect(v.full.text).toBe(JSON.stringify(v.full.s));
    },
  );

  it('refuses an unknown detail', async () => {
    const r = await n.raw('who', { channel: ch, detail: 'verbose' });
    expect(r.isError).toBe(true);
  });
});
