import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { toB64u } from '../../protocol/bytes.js';
import { ChainTracker } from '../../protocol/chain.js';
import type { EventBody } from '../../protocol/event.js';
import { judgeEvent, type RuleState } from '../../node/event-rules.js';
import { Ingestor, type IngestEvent } from '../../node/ingest.js';

const AUTHOR = toB64u(randomBytes(32));
const newId = () => toB64u(randomBytes(32));

function body(seq: number, prev: string | null, lamport: number): EventBody {
  return { v: 1, ch: 'c', ep: 0, type: 'message', author: AUTHOR, seq, prev, deps: [], lamport, ts: 0, payload: {} };
}

function own(id: string, b: EventBody): IngestEvent {
  return { id, body: b, bodyText: '', signature: new Uint8Array(64), lamport: b.lamport, deps: b.deps, prev: b.prev };
}

describe('the delivery rules (node/event-rules.ts)', () => {
  it('judge the lamport clock, then membership, then the author chain', () => {
    const lamports = new Map<string, number>();
    const state: RuleState = { lamportOf: (id) => lamports.get(id), refusal: () => null, chains: new ChainTracker() };
    expect(judgeEvent('e1', body(1, null, 2), state)).toEqual({ rule: 'lamport' });
    expect(judgeEvent('e1', body(1, null, 1), { ...state, refusal: () => 'not a member' })).toEqual({
      rule: 'membership',
      reason: 'not a member',
    });
    expect(judgeEvent('e1', body(1, null, 1), { ...state, refusal: () => 'defer' })).toEqual({ rule: 'defer' });
    expect(judgeEvent('e1', body(1, null, 1), state)).toBeNull();
    lamports.set('e1', 1);
    expect(judgeEvent('e2', body(3, 'e1', 2), state)).toEqual({ rule: 'chain' });
    expect(judgeEvent('e3', body(1, null, 1), state)).toEqual({ rule: 'equivocation' });
  });

  it("deliver our own post from its body, judged like anyone's, and its entry is then already seen", () => {
    const delivered: string[] = [];
    const ingestor = new Ingestor(
      () => null,
      (ev) => delivered.push(ev.id),
    );
    const first = newId();
    expect(ingestor.admitOwn(own(first, body(1, null, 1))).map((e) => e.id)).toEqual([first]);
    expect(ingestor.claim([{ key: first, value: new Uint8Array(0), relay: null }])).toEqual([]);
    expect(ingestor.admitOwn(own(newId(), body(2, first, 5)))).toEqual([]);
    expect(delivered).toEqual([first]);
    expect(ingestor.report()).toEqual([`event with a wrong lamport clock by ${AUTHOR.slice(0, 8)}`]);
  });
});
