/**
 * Soak (bounded): three nodes post steadily while the relay is kill -9'd and restarted 20 times, once onto a wiped
 * data directory. At the end every node has every message any node posted, exactly once.
 */
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnRelay } from '../helpers/relay.js';
import { startNode, tempHome, type TestNode } from '../helpers/mcp.js';
import { until } from '../helpers/until.js';

const RESTARTS = 20;
const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function allBodies(n: TestNode, ch: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  for (;;) {
    const r = await n.call('sync_messages', { channel: ch, cursor, limit: 500 });
    out.push(...r.messages.filter((m) => m.kind === 'chat').map((m) => m.body));
    cursor = r.cursor;
    if (!r.more) return out;
  }
}

describe('soak', () => {
  // Long: one scenario, told step by step.
  it(`three nodes keep every message across ${RESTARTS} relay kills and one wipe`, { timeout: 150_000 }, async () => {
    const dataDir = tempHome('parley-relay-');
    let relay = await spawnRelay({ dataDir });
    const port = relay.port;
    cleanup.push(() => relay.stop());
    const env = { PARLEY_RATE_LIMIT_PER_MIN: '100000' };
    const nodes = [
      await startNode({ relays: [relay.url], env }),
      await startNode({ relays: [relay.url], env }),
      await startNode({ relays: [relay.url], env }),
    ];
    for (const n of nodes) cleanup.push(() => n.close());
    const created = await nodes[0].call('create_channel', { name: 'soak', slots: ['invite:b', 'invite:c'] });
    const ch = created.channel;
    await nodes[1].call('join_channel', { invite_code: created.invites['invite:b'] });
    await nodes[2].call('join_channel', { invite_code: created.invites['invite:c'] });

    const posted: string[] = [];
    let stop = false;
    const posters = nodes.map(async (n, i) => {
      let k = 0;
      while (!stop) {
        const body = `n${i}-${k++}`;
        await n.call('post_message', { channel: ch, body });
        posted.push(body);
        // Pacing the load, not a wait for a condition: each node posts about 25 times a second.
        await new Promise((r) => setTimeout(r, 40));
      }
    });

    // Each relay life sees some posts: kill it once a few more have been posted, not after a fixed time.
    const morePosts = (n: number) => {
      const before = posted.length;
      return until(() => posted.length >= before + n, { what: `${n} more posts` });
    };
    for (let i = 0; i < RESTARTS; i++) {
      await morePosts(15);
      await relay.kill('SIGKILL');
      if (i === RESTARTS / 2) rmSync(dataDir, { recursive: true, force: true });
      relay = await spawnRelay({ dataDir, port });
    }
    await morePosts(25);
    stop = true;
    await Promise.all(posters);

    const want = [...posted].sort();
    const views = await until(
      () => Promise.all(nodes.map((n) => allBodies(n, ch))),
      (vs) => vs.every((v) => v.length >= want.length),
      {
        what: 'every post on every node',
        ms: 45_000,
      },
    ).catch(() => Promise.all(nodes.map((n) => allBodies(n, ch)))); // on timeout, the report below says what is missing
    const lost = views.map((v) => want.filter((b) => !v.includes(b)).length);
    const dupes = views.map((v) => v.length - new Set(v).size);
    console.log(
      `soak: ${RESTARTS} relay kills (one wiped), ${posted.length} messages posted; delivered per ` +
        `node ${views.map((v) => v.length).join('/')}; lost ${lost.join('/')}; duplicates ${dupes.join('/')}`,
    );
    for (const v of views) expect([...v].sort()).toEqual(want);
  });
});
