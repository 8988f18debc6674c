/**
 * The rules an authentic event must pass to be delivered, in one place and one order, wherever an event is judged:
 * ingest (node/ingest.ts, for other members' events and our own posts alike) and offline verification of a
 * transcript (node/transcript.ts). Authoring builds its lamport clock with the same `nextLamport`
 * (node/channel/authoring.ts), and its event is then judged here like any other.
 *
 *   lamport clock (protocol/event.ts nextLamport) → membership (Membership.refusal) → author chain (ChainTracker).
 */
import { nextLamport, type EventBody } from '../protocol/event.js';
import type { ChainTracker } from '../protocol/chain.js';

/** What the events judged so far have established. */
export interface RuleState {
  lamportOf: (id: string) => number | undefined;
  /** Membership's judgement (Membership.refusal): why the event may not be delivered, null, or 'defer'. */
  refusal: (id: string, body: EventBody) => string | null | 'defer';
  chains: ChainTracker;
}

/**
 * Why an event breaks a rule, or null if it passes (its chain step is then recorded in `chains`). 'defer' means
 * membership cannot judge it yet (it comes before the channel.create); `reason` is membership's refusal.
 */
export type RuleBreak =
  | { rule: 'lamport' }
  | { rule: 'membership'; reason: string }
  | { rule: 'defer' }
  | { rule: 'equivocation' }
  | { rule: 'chain' };

export function judgeEvent(id: string, b: EventBody, state: RuleState): RuleBreak | null {
  if (b.lamport !== nextLamport(b.deps, b.prev, state.lamportOf)) return { rule: 'lamport' };
  const refusal = state.refusal(id, b);
  if (refusal === 'defer') return { rule: 'defer' };
  if (refusal) return { rule: 'membership', reason: refusal };
  const verdict = state.chains.check({ id, author: b.author, seq: b.seq, prev: b.prev });
  if (verdict === 'equivocation') return { rule: 'equivocation' };
  return verdict === 'ok' ? null : { rule: 'chain' };
}
