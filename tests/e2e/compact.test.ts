/**
 * Compact and full results over MCP stdio, on one node whose relay is unreachable (everything here is local): the
 * text block is exactly the rendering of the structured content, compact drops what it should, full keeps it all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderCompactBot, renderCompactChannels, renderCompactSync, renderCompactVerify, renderCompactWho } from '../../node/compact.js';
import { removeHome, startNode, type TestNode } from '../helpers/mcp.js';

let n: TestNode;
let ch: string;
beforeAll(async () => {
  n = await startNode({ relays: ['ws://127.0.0.1:9'] });
  ch = (await n.call('create_channel', { name: 'solo game', slots: ['invite:bob', 'bot:guess'], bot: { preset: 'guess' }, display_name: 'Alice' })).channel;
  await n.call('post_message', { channel: ch, kind: 'guess', body: '50' });
  await n.call('post_message', { channel: ch, body: 'two\nlines', to: 'invite:bob', meta: { files: ['a.ts'] } });
});
afterAll(async () => {
  await n.close();
  removeHome(n.home);
});

const both = async (tool: string, args: Record<string, unknown>) => {
  const compact = await n.raw(tool, args);
  const full = await n.raw(tool, { ...args, detail: 'full' });
  for (const r of [compact, full]) expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
  return { compact: { s: compact.structuredContent as any, text: (compact.content[0] as { text: string }).text }, full: { s: full.structuredContent as any, text: (full.content[0] as { text: string }).text } };
};

describe('compact and full results', () => {
  it('sync_messages: one line per message, the same fields as the structured content; full has every id', async () => {
    let r = await both('sync_messages', { channel: ch, cursor: '0', limit: 500 });
    for (let i = 0; i < 50 && !r.compact.s.messages.some((m: any) => m.kind === 'hint'); i++) r = await both('sync_messages', { channel: ch, cursor: '0', limit: 500, wait_seconds: 1 });
    const { compact, full } = r;
    expect(compact.text).toBe(renderCompactSync(compact.s));
    expect(compact.s.channel).toBe(ch);
    // The bot may step between the two calls: compare up to the compact call's cursor.
    expect(compact.s.messages.map((m: any) => m.seq)).toEqual(full.s.messages.filter((m: any) => m.seq <= Number(compact.s.cursor)).map((m: any) => m.seq));
    const hint = compact.s.messages.find((m: any) => m.kind === 'hint');
    expect(hint).toMatchObject({ from: 'bot:guess', to: 'owner', verification: expect.stringMatching(/verified|pending/) });
    expect(compact.text).toContain(`owner [${hint.verification}]: ${hint.body}`);
    expect(compact.text).toContain('owner chat → invite:bob meta {"files":["a.ts"]}: two\n  lines');
    for (const m of full.s.messages) {
      expect(m).toMatchObject({ channel: ch, id: expect.any(String), author: expect.any(String), ts: expect.any(Number) });
      expect(compact.text).not.toContain(m.author);
    }
    expect(full.text).toBe(JSON.stringify(full.s));
    expect(full.text.length).toBeGreaterThan(2 * compact.text.length);
  });

  it('sync_messages over every channel names the channel on each message', async () => {
    const { compact } = await both('sync_messages', { cursor: '0', limit: 500 });
    expect(compact.s.channel).toBeUndefined();
    expect(compact.s.messages.every((m: any) => m.channel === ch)).toBe(true);
    expect(compact.text).toBe(renderCompactSync(compact.s));
    expect(compact.text.split('\n')[1]).toContain(` @${ch} `);
  });

  it('who, list_channels, get_bot and verify_channel render their structured content; full keeps keys and source', async () => {
    const who = await both('who', { channel: ch });
    expect(who.compact.text).toBe(renderCompactWho(who.compact.s));
    expect(who.compact.s.members.map((m: any) => m.slot)).toEqual(who.full.s.members.map((m: any) => m.slot));
    expect(who.compact.s.members.some((m: any) => 'id' in m)).toBe(false);
    expect(who.full.s.members.find((m: any) => m.slot === 'owner').id).toHaveLength(43);

    const list = await both('list_channels', {});
    expect(list.compact.text).toBe(renderCompactChannels(list.compact.s));
    expect(list.compact.s.channels[0]).toMatchObject({ channel: ch, name: 'solo game', slot: 'owner', epoch: 0, closed: false });

    const bot = await both('get_bot', { channel: ch, slot: 'bot:guess' });
    expect(bot.compact.text).toBe(renderCompactBot(bot.compact.s));
    expect(bot.compact.s).not.toHaveProperty('code');
    expect(bot.full.s.code).toContain('export default');
    expect(bot.full.s.code_hash.startsWith(bot.compact.s.code_hash.slice(0, -1))).toBe(true);

    const v = await both('verify_channel', { channel: ch });
    expect(v.compact.text).toBe(renderCompactVerify(v.compact.s));
    expect(Object.keys(v.compact.s).sort()).toEqual(['bots', 'events', 'ok', 'problems']);
    expect(v.compact.s.bots.map((b: any) => b.slot)).toEqual(v.full.s.bots.map((b: any) => b.slot));
    expect(v.full.text).toBe(JSON.stringify(v.full.s));
  });

  it('refuses an unknown detail', async () => {
    const r = await n.raw('who', { channel: ch, detail: 'verbose' });
    expect(r.isError).toBe(true);
  });
});
