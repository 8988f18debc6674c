/**
 * A node whose profile sits on a nearly full disk (a real 4 MiB tmpfs; root only, as on CI): posts fail with one
 * sentence while the disk is full, nothing that failed was sent, and once the disk grows the node carries on
 * without ever reusing a `seq` (peers see no equivocation), also after a restart.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnRelay } from '../helpers/relay.js';
import { collectUntil, errorText, startNode, type TestNode } from '../helpers/mcp.js';
import { smallFilesystem } from '../helpers/small-fs.js';

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const probe = smallFilesystem('1m');
probe?.unmount();

describe('a full disk under the node', () => {
  it.skipIf(probe === null)(
    'posts fail while it is full, nothing is sent twice under one seq, and the node carries on once it grows',
    async () => {
      const fs = smallFilesystem('4m')!;
      cleanup.push(() => fs.unmount());
      const r = await spawnRelay();
      cleanup.push(() => r.stop());
      const home = join(fs.dir, 'alice');
      mkdirSync(home);
      const env = { PARLEY_RATE_LIMIT_PER_MIN: '100000' };
      let alice: TestNode = await startNode({ home, relays: [r.url], env });
      const bob = await startNode({ relays: [r.url] });
      cleanup.push(() => bob.close());
      const created = await alice.call('create_channel', { name: 'full disk', slots: ['invite:bob'] });
      const ch = created.channel;
      await bob.call('join_channel', { invite_code: created.invites['invite:bob'] });
      const filler = 'f'.repeat(40_000);
      const accepted: string[] = [];
      let failure = '';
      for (let i = 0; i < 400 && !failure; i++) {
        const res = await alice.raw('post_message', { channel: ch, body: `${i} ${filler}` });
        if (res.isError) failure = errorText(res);
        else accepted.push(`${i} ${filler}`);
      }
      expect(failure).toMatch(/disk is full|full/);
      fs.resize('64m');
      await alice.call('post_message', { channel: ch, body: 'the disk has room again' });
      const seen = await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'the disk has room again'), 30_000);
      const bodies = new Set(seen.map((m) => m.body));
      expect(accepted.every((b) => bodies.has(b))).toBe(true);
      expect((await bob.call('verify_channel', { channel: ch })).problems).toEqual([]);

      await alice.close();
      alice = await startNode({ home, relays: [r.url], env });
      cleanup.push(() => alice.close());
      await alice.call('post_message', { channel: ch, body: 'after a restart' });
      await collectUntil(bob, ch, (all) => all.some((m) => m.body === 'after a restart'), 30_000);
      expect((await bob.call('verify_channel', { channel: ch })).problems).toEqual([]);
    },
  );
});
