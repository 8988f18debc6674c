/**
 * Runner liveness: the owner hands a secret-seed bot to another member before leaving, and a member claims a
 * paused public bot whose runner went silent. Play continues and every remaining node verifies every step.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnRelay } from '../helpers/relay.js';
import { removeHome, startNode, type ReadMessage, type TestNode, type ToolResults } from '../helpers/mcp.js';
import { until } from '../helpers/until.js';

type Relay = Awaited<ReturnType<typeof spawnRelay>>;
let relay: Relay;
const cleanup: (() => Promise<unknown> | unknown)[] = [];

beforeAll(async () => {
  relay = await spawnRelay();
});
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});
afterAll(() => relay?.stop());

async function node(env: Record<string, string> = {}): Promise<TestNode> {
  const n = await startNode({ relays: [relay.url], env });
  cleanup.push(
    () => removeHome(n.home),
    () => n.close(),
  );
  return n;
}

const fromBot = (slot: string, kind: string) => (m: ReadMessage) => m.from === slot && m.kind === kind;

/** Polls the whole history (from cursor 0) until `pred` holds for some message. */
async function waitFor(n: TestNode, ch: string, pred: (m: ReadMessage) => boolean) {
  const all = await until(
    async () => (await n.call('sync_messages', { channel: ch, cursor: '0', limit: 500 })).messages,
    (ms) => ms.some(pred),
    {
      what: 'a matching message',
    },
  );
  return all.find(pred);
}

async function verifiedEverywhere(nodes: TestNode[], ch: string) {
  for (const n of nodes) {
    const report = await until(
      () => n.call('verify_channel', { channel: ch }),
      (r) => r.bots.every((b) => b.pending === 0) && r.ok,
      { what: 'every step verified' },
    );
    expect(report.problems).toEqual([]);
    for (const b of report.bots) expect(b).toMatchObject({ mismatches: 0, pending: 0, verified: b.steps });
  }
}

describe('bot runner hand-over', () => {
  it('the owner hands a secret-seed bot to a member before leaving; the new runner finishes the game', async () => {
    const [alice, bob, carol] = [await node(), await node(), await node()];
    const created = await alice.call('create_channel', {
      name: 'relay race',
      slots: ['invite:bob', 'invite:carol', 'bot:guess'],
      bot: { preset: 'guess' },
      display_name: 'Alice',
    });
    const ch = created.channel;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
    await carol.call('join_channel', { invite_code: created.invites['invite:carol'], display_name: 'Carol' });

    // Before any guess: a first guess of 50 is right one time in a hundred, and a revealed bot is no longer secret.
    const refused = await bob.raw('hand_over_bot', { channel: ch, slot: 'bot:guess' });
    expect(refused.isError).toBe(true);
    expect((refused.content[0] as { text: string }).text).toMatch(/secret seed: only its current runner/);

    await carol.call('post_message', { channel: ch, kind: 'guess', body: '50' });
    let hint = (await waitFor(carol, ch, fromBot('bot:guess', 'hint')))?.body;

    const handed = await alice.call('hand_over_bot', { channel: ch, slot: 'bot:guess', to: 'invite:bob' });
    expect(handed).toMatchObject({ runner_slot: 'invite:bob', from_step: expect.any(Number) });
    await waitFor(bob, ch, (m) => m.kind === 'system' && /is run by Bob/.test(m.body));
    expect((await bob.call('get_bot', { channel: ch, slot: 'bot:guess' })).runner_slot).toBe('invite:bob');
    await alice.close();

    let [lo, hi] = hint === 'higher' ? [51, 100] : [1, 49];
    let cursor: string | undefined = (await carol.call('sync_messages', { channel: ch, limit: 500 })).cursor;
    while (hint !== 'correct') {
      const g = Math.floor((lo + hi) / 2);
      await carol.call('post_message', { channel: ch, kind: 'guess', body: String(g) });
      for (;;) {
        const r: ToolResults['sync_messages'] = await carol.call('sync_messages', {
          channel: ch,
          cursor,
          wait_seconds: 10,
        });
        cursor = r.cursor;
        const h = r.messages.find(fromBot('bot:guess', 'hint'));
        if (h) {
          hint = h.body;
          break;
        }
        if (r.messages.length === 0) throw new Error('the new runner did not answer');
      }
      if (hint === 'higher') lo = g + 1;
      if (hint === 'lower') hi = g - 1;
    }
    await waitFor(carol, ch, (m) => m.kind === 'system' && /revealed its seed/.test(m.body));
    await verifiedEverywhere([bob, carol], ch);
  });

  it('a member claims a paused public bot whose runner went silent', async () => {
    const env = { PARLEY_BOT_PAUSED_MS: '1000' };
    const [alice, bob, carol] = [await node(env), await node(env), await node(env)];
    const created = await alice.call('create_channel', {
      name: 'dice',
      slots: ['invite:bob', 'invite:carol', 'bot:dice'],
      bot: { preset: 'dice' },
    });
    const ch = created.channel;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'] });
    await carol.call('join_channel', { invite_code: created.invites['invite:carol'] });
    await bob.call('post_message', { channel: ch, kind: 'roll', body: '2d6' });
    await waitFor(bob, ch, fromBot('bot:dice', 'rolled'));
    await verifiedEverywhere([alice, bob, carol], ch);
    await alice.close();

    await carol.call('post_message', { channel: ch, kind: 'roll', body: '1d20' });
    const early = await bob.raw('hand_over_bot', { channel: ch, slot: 'bot:dice' });
    expect(early.isError).toBe(true);
    expect((early.content[0] as { text: string }).text).toMatch(
      /running; a member can claim it only while it is paused/,
    );
    await until(
      () => bob.call('get_bot', { channel: ch, slot: 'bot:dice' }),
      (b) => b.state === 'paused',
      { what: 'the bot to show as paused' },
    );
    const claimed = await bob.call('hand_over_bot', { channel: ch, slot: 'bot:dice' });
    expect(claimed.runner_slot).toBe('invite:bob');
    await waitFor(carol, ch, (m) => fromBot('bot:dice', 'rolled')(m) && /1d20/.test(m.body));
    await carol.call('post_message', { channel: ch, kind: 'roll', body: '3d4' });
    await waitFor(carol, ch, (m) => fromBot('bot:dice', 'rolled')(m) && /3d4/.test(m.body));
    expect((await carol.call('get_bot', { channel: ch, slot: 'bot:dice' })).state).toBe('running');
    await verifiedEverywhere([bob, carol], ch);
  });
});
