import { describe, expect, it } from 'vitest';
import { FrontierWatch, describeWithholding } from '../../node/withholding.js';

const R1 = 'ws://r1';
const R2 = 'ws://r2';
const both = [
  { url: R1, connected: true },
  { url: R2, connected: true },
];

describe('FrontierWatch', () => {
  it('reports the connected relays once a claimed head stays missing past the grace period', () => {
    const w = new FrontierWatch(1000);
    let have = 3;
    const local = () => have;
    w.observe('bob', { alice: 5 }, R1, local, both, 0);
    expect(w.check(local, both, 999)).toEqual([]);
    const [f] = w.check(local, both, 1500);
    expect(f).toMatchObject({ relays: [R1, R2], author: 'alice', have: 3, claimed: 5, claimedBy: 'bob', via: R1 });
    expect(describeWithholding(f, (id) => id.toUpperCase())).toMatch(
      new RegExp(
        "^relays ws://r1, ws://r2 are withholding events: BOB signed .* ALICE's events up to #5, " +
          'but this node has only #3',
      ),
    );
    have = 5;
    expect(w.check(local, both, 2000)).toEqual([]);
    have = 4;
    expect(w.check(local, both, 5000)).toEqual([]);
  });

  it('ignores claims this node already satisfies', () => {
    const w = new FrontierWatch(0);
    w.observe('bob', { alice: 2, carol: 1 }, null, () => 2, both, 0);
    expect(w.check(() => 2, both, 10)).toEqual([]);
  });

  it('does not blame a relay that disconnected, and offline is not withholding', () => {
    const w = new FrontierWatch(100);
    w.observe('bob', { alice: 9 }, R1, () => 0, both, 0);
    const onlyR2 = [
      { url: R1, connected: false },
      { url: R2, connected: true },
    ];
    expect(w.check(() => 0, onlyR2, 200).map((f) => f.relays)).toEqual([[R2]]);
    const none = [
      { url: R1, connected: false },
      { url: R2, connected: false },
    ];
    expect(w.check(() => 0, none, 300)).toEqual([]);
    // Back online: the grace period starts again.
    expect(w.check(() => 0, both, 350)).toEqual([]);
    expect(w.check(() => 0, both, 500).map((f) => f.relays)).toEqual([[R1, R2]]);
  });

  it('a larger claim raises an open gap; non-integer claims are ignored', () => {
    const w = new FrontierWatch(0);
    w.observe('bob', { alice: 4 }, R1, () => 1, both, 0);
    w.observe('carol', { alice: 7, mallory: Number.NaN }, R2, () => 1, both, 1);
    expect(w.check(() => 1, both, 2)).toMatchObject([{ author: 'alice', claimed: 7, claimedBy: 'carol', via: R2 }]);
  });
});
