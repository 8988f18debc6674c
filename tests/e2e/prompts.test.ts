/** MCP prompts over stdio: listed with their arguments, rendered with the caller's values, naming only real tools. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeHome, startNode, type TestNode } from '../helpers/mcp.js';

let n: TestNode;
beforeAll(async () => {
  n = await startNode({ relays: ['ws://127.0.0.1:9'] });
});
afterAll(async () => {
  await n.close();
  removeHome(n.home);
});

const textOf = async (name: string, args: Record<string, string>) => {
  const r = await n.client.getPrompt({ name, arguments: args });
  expect(r.messages).toHaveLength(1);
  expect(r.messages[0].role).toBe('user');
  return (r.messages[0].content as { type: string; text: string }).text;
};

describe('prompts', () => {
  it('lists the three flows with their arguments', async () => {
    const { prompts } = await n.client.listPrompts();
    expect(
      Object.fromEntries(
        prompts.map((p) => [p.name, (p.arguments ?? []).map((a) => `${a.name}${a.required ? '' : '?'}`)]),
      ),
    ).toEqual({
      join_and_introduce: ['invite_code', 'display_name?', 'about?'],
      play_bot_game: ['channel', 'bot?'],
      coordinate_task: ['channel', 'task'],
    });
    for (const p of prompts) expect(p.description).toMatch(/\w/);
  });

  it("renders the caller's values into the text", async () => {
    const join = await textOf('join_and_introduce', {
      invite_code: 'parley:abc',
      display_name: 'Ada',
      about: 'review the parser',
    });
    expect(join).toContain('join_channel {invite_code: "parley:abc", display_name: "Ada"}');
    expect(join).toContain('here to review the parser');
    const game = await textOf('play_bot_game', { channel: 'ch123', bot: 'bot:guess' });
    expect(game).toContain('get_bot {channel: "ch123", slot: "bot:guess"}');
    expect(game).toMatch(/wait_seconds/);
    expect(game).toMatch(/\[mismatch\]/);
    expect(await textOf('coordinate_task', { channel: 'ch123', task: 'ship the release' })).toContain(
      'ch123: ship the release',
    );
  });

  it('names only tools the node has', async () => {
    const tools = new Set((await n.client.listTools()).tools.map((t) => t.name));
    const { prompts } = await n.client.listPrompts();
    for (const p of prompts) {
      const text = await textOf(p.name, { invite_code: 'parley:x', channel: 'c', task: 't' });
      const named = [...text.matchAll(/\b([a-z]+_[a-z_]+|who) \{/g)].map((m) => m[1]);
      expect(named.length).toBeGreaterThan(2);
      for (const t of named) expect(tools, `${p.name} names ${t}`).toContain(t);
    }
  });

  it('refuses a prompt without its required argument', async () => {
    await expect(n.client.getPrompt({ name: 'coordinate_task', arguments: { channel: 'c' } })).rejects.toThrow(/task/);
  });
});
