/**
 * What the bots of a channel tell the rest of the node: the problems found (for verify_channel and `parley verify`),
 * each step's verification mark as it is settled, a mismatch claim when a step does not replay (the node writes the
 * fraud proof), and the per-bot summaries the tools show.
 */
import type { Bot, StepRecord, StepStatus } from './bot.js';
import type { AttachPayload, MismatchClaim } from './payloads.js';

export interface BotReport {
  slot: string;
  steps: number;
  verified: number;
  pending: number;
  mismatches: number;
  unverifiable: number;
  /** The engine the bot was attached under, when this node runs another (its steps are unverifiable here). */
  needsEngine?: string;
}

/** Told every mark as it is settled; a mismatch comes with the claim a fraud proof is built on. */
export type MarkListener = (stepId: string, status: StepStatus, claim?: MismatchClaim) => void;

export interface BotInfo {
  bot: Bot;
  attach: AttachPayload;
  lastStepAt: number | null;
  /** Eligible inputs the runner has not fed yet, and the earliest of their timestamps. */
  waiting: number;
  waitingSince: number | null;
}

export class Reports {
  private readonly problems: string[] = [];

  constructor(private readonly onMark?: MarkListener) {}

  problem(text: string): void {
    this.problems.push(text);
  }

  /** Settles a step's mark; a mismatch is also a problem and, for a step with an id, a claim. */
  mark(bot: Bot, rec: StepRecord, status: StepStatus, reason?: string): void {
    rec.status = status;
    rec.reason = reason;
    if (status === 'mismatch') this.problems.push(`bot ${bot.slot} step ${rec.n}: ${reason}`);
    if (!rec.id) return;
    if (status !== 'mismatch') return this.onMark?.(rec.id, status);
    this.onMark?.(rec.id, status, { bot: bot.slot, n: rec.n, reason: reason ?? 'mismatch', runner: bot.runner });
  }

  /** Passes on a mark that needs no bookkeeping here (a runner's own step coming back, a pending step). */
  notify(stepId: string, status: StepStatus): void {
    this.onMark?.(stepId, status);
  }

  report(bots: Iterable<Bot>): { bots: BotReport[]; problems: string[] } {
    const out = [...bots].map((b) => ({
      slot: b.slot,
      steps: b.steps.length,
      verified: b.steps.filter((s) => s.status === 'verified').length,
      pending: b.steps.filter((s) => s.status === 'pending').length,
      mismatches: b.steps.filter((s) => s.status === 'mismatch').length,
      unverifiable: b.steps.filter((s) => s.status === 'unverifiable').length,
      ...(b.needsEngine !== null ? { needsEngine: b.needsEngine } : {}),
    }));
    return { bots: out, problems: [...this.problems] };
  }
}

export function stepStatus(bots: Iterable<Bot>, stepId: string): StepStatus | undefined {
  for (const b of bots) for (const s of b.steps) if (s.id === stepId) return s.status;
  return undefined;
}

export function botInfo(b: Bot, isFed: (input: Bot['inputs'][number]) => boolean): BotInfo {
  const unfed = b.inputs.filter((i) => !isFed(i));
  const waitingSince = unfed.length > 0 ? Math.min(...unfed.map((i) => i.ev.body.ts)) : null;
  const lastStepAt = b.steps.at(-1)?.payload?.now ?? null;
  return { bot: b, attach: b.payload, lastStepAt, waiting: unfed.length, waitingSince };
}

/** Per bot: its last step number and claimed state hash (recorded in a new epoch's first event). */
export function checkpoints(bots: Iterable<Bot>): Record<string, { steps: number; state_hash: string | null }> {
  const out: Record<string, { steps: number; state_hash: string | null }> = {};
  for (const b of bots) out[b.slot] = { steps: b.steps.length, state_hash: b.steps.at(-1)?.payload?.stateHash ?? null };
  return out;
}
