/** Three nodes post 1,000 messages each, concurrently, through one relay. */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnRelay } from '../helpers/relay.js';
import { startNode, type ReadMessage, type TestNode } from '../helpers/mcp.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const PER_NODE = 1000;

describe('concurrent posting', () => {
  it('every node ends with all 3,000 messages, no duplicates, per-author order and causal order kept', async () => {
    const relay = await spawnRelay({});
    cleanup.push(() => relay.stop());
    const env = { PARLEY_RATE_LIMIT_PER_MIN: '100000' };
    const nodes: TestNode[] = [];
    for (let i = 0; i < 3; i++) {
      const n = await startNode({ relays: [relay.url], env });
      cleanup.push(() => n.close());
      nodes.push(n);
    }
    const created = await nodes[0].call('create_channel', { name: 'load', slots: ['invite:b', 'invite:c'] });
    const ch = created.channel;
    await nodes[1].call('join_channel', { invite_code: created.invites['invite:b'], display_name: 'b' });
    await nodes[2].call('join_channel', { invite_code: created.invites['invite:c'], display_name: 'c' });

    await Promise.all(
      nodes.map(async (n, i) => {
        for (let k = 0; k < PER_NODE; k++)
          await n.call('post_message', { channel: ch, body: `${i}:${k}`, kind: 'load' });
      }),
    );

    for (const n of nodes) {
      const seen: ReadMessage[] = [];
      let cursor = '0';
      const deadline = Date.now() + 60_000;
      while (seen.filter((m) => m.kind === 'load').length < 3 * PER_NODE && Date.now() < deadline) {
        const r = await n.call('sync_messages', { channel: ch, cursor, limit: 500, wait_seconds: 2, detail: 'full' });
        seen.push(...r.messages);
        cursor = r.cursor;
      }
      const load = seen.filter((m) => m.kind === 'load');
      expect(load).toHaveLength(3 * PER_NODE);
      expect(new Set(load.map((m) => m.id)).size).toBe(3 * PER_NODE);
      // delivery numbers strictly increase: a cursor never skips anything
      for (let k = 1; k < seen.length; k++) expect(seen[k].seq).toBeGreaterThanOrEqual(seen[k - 1].seq);
      for (let i = 0; i < 3; i++) {
        const mine = load.filter((m) => m.body.startsWith(`${i}:`)).map((m) => Number(m.body.split(':')[1]));
        expect(mine).toEqual([...Array(PER_NODE).keys()]);
      }
    }
  });
});
