/**
 * One e2e test file's processes: `relay()` and `node()` start real ones and register them for `afterEach`, which
 * stops them newest first; `cleanup` takes anything else to undo. Also waits for libsodium before the tests.
 */
import { afterEach, beforeAll } from 'vitest';
import { ready } from '../../protocol/sodium.js';
import { spawnRelay, type SpawnedRelay } from './relay.js';
import { startNode, type TestNode } from './mcp.js';

export function e2eScope() {
  const cleanup: (() => Promise<unknown> | unknown)[] = [];
  beforeAll(ready);
  afterEach(async () => {
    while (cleanup.length) await cleanup.pop()!();
  });
  return {
    cleanup,
    async relay(): Promise<SpawnedRelay> {
      const r = await spawnRelay();
      cleanup.push(() => r.stop());
      return r;
    },
    async node(url: string, opts: { home?: string; env?: Record<string, string> } = {}): Promise<TestNode> {
      const n = await startNode({ relays: [url], ...opts });
      cleanup.push(() => n.close());
      return n;
    },
  };
}
