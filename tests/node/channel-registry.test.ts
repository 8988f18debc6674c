/**
 * The node's channel registry (node/channel-registry.ts) without a relay: a channel is found by id or by its one
 * exact name, a name two channels share or no channel has is one sentence, and after a restart every active channel
 * is listed at once, before the background opener has opened it, and open once `opened()` resolves.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ParleyNode } from '../../node/service.js';
import { removeHome, tempHome } from '../helpers/mcp.js';

/** A relay address nothing listens on: channels are created and stored, nothing is sent. */
const NOWHERE = 'ws://127.0.0.1:9';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0).reverse()) f();
});

async function node(home: string): Promise<ParleyNode> {
  const n = await ParleyNode.open({ home, relays: [NOWHERE], env: {} });
  cleanup.push(() => n.close());
  return n;
}

describe('channel registry', () => {
  it('finds a channel by id or by its one name; a shared or unknown name is one sentence', async () => {
    const home = tempHome();
    cleanup.push(() => removeHome(home));
    const n = await node(home);
    const a = n.createChannel({ name: 'alpha' });
    expect(n.channel(a.channel).ch).toBe(a.channel);
    expect(n.channel('alpha').ch).toBe(a.channel);
    n.createChannel({ name: 'alpha' });
    expect(() => n.channel('alpha')).toThrow('Several channels are named "alpha"; pass the channel id instead.');
    expect(() => n.channel('beta')).toThrow(
      'Unknown channel "beta"; call list_channels to see the channels you are in.',
    );
  });

  it('after a restart lists every active channel at once and opens them in the background', async () => {
    const home = tempHome();
    cleanup.push(() => removeHome(home));
    const first = await node(home);
    const ids = ['one', 'two', 'three'].map((name) => first.createChannel({ name }).channel);
    first.close();

    const again = await node(home);
    expect(
      again
        .channelRows()
        .map((r) => r.ch)
        .sort(),
    ).toEqual([...ids].sort());
    expect(
      again
        .listChannels()
        .channels.map((c) => c.channel)
        .sort(),
    ).toEqual([...ids].sort());
    await again.opened();
    expect([...again.channels.keys()].sort()).toEqual([...ids].sort());
    expect(again.channel('two').ch).toBe(ids[1]);
  });

  it('lists the most recent activity first, a page at a time, and filters by name', async () => {
    const home = tempHome();
    cleanup.push(() => removeHome(home));
    const n = await node(home);
    const [alpha, beta, gamma] = ['Alpha', 'beta', 'gamma alpha'].map((name) => n.createChannel({ name }).channel);
    await n.postMessage({ channel: beta, body: 'the latest' });
    const names = (l: { channels: { channel: string }[] }) => l.channels.map((c) => c.channel);
    expect(names(n.listChannels())).toEqual([beta, gamma, alpha]);
    expect(n.listChannels({ offset: 1, limit: 1 })).toMatchObject({ channels: [{ channel: gamma }], total: 3 });
    const matched = n.listChannels({ match: 'ALPHA' });
    expect(names(matched)).toEqual([gamma, alpha]);
    expect(matched.total).toBe(2);
    expect(n.listChannels({ offset: 5 })).toEqual({ channels: [], total: 3 });
  });

  it('a channel another process writes to between reading the dormant records and linking opens in full', async () => {
    const home = tempHome();
    cleanup.push(() => removeHome(home));
    const first = await node(home);
    const ch = first.createChannel({ name: 'quiet' }).channel;
    // A record as a node that stopped with nothing to do leaves it (this one never reached a relay).
    first.store.saveDormant(ch, [{ ep: 0, sv: new Uint8Array([0]) }]);
    first.close();

    const again = await node(home);
    // The opener's first slice reads the records; the next one links.
    await new Promise((resolve) => setImmediate(resolve));
    const other = await node(home);
    await other.postMessage({ channel: ch, body: 'written by another process, not sent yet' });
    // The store poll between the two slices sees the write (the ticker can fire there, as can a tool call).
    (again as unknown as { registry: { pollStore(): void } }).registry.pollStore();
    await again.opened();
    expect(again.dormant.has(ch)).toBe(false);
    expect(again.channels.has(ch)).toBe(true);
  });
});
