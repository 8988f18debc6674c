/**
 * The verifier's half of the bots: checks each delivered `bot.step` and replays it. A step must be by the runner
 * of its number, numbered n+1, linked to the previous step, and name a delivered input whose recorded form equals
 * the one this node derives; no input may be fed twice, and every input in the causal past of the step's input must
 * have been fed before it (a skipped or reordered input is a mismatch). Then the step is re-run in this node's own
 * QuickJS sandbox (one per bot, from the first step) and its outputs, state hash and error compared. A bot whose
 * manifest says `secret` publishes only a seed commitment, so its steps stay `pending` until `bot.reveal`.
 */
import { jsonEqual } from './json.js';
import { ENGINE_ID } from './sandbox.js';
import { seedCommitment } from './seed.js';
import type { StepOutcomeLite } from './replayer.js';
import { isFed, markFed, type Bot, type Seen, type StepRecord, type StepStatus } from './bot.js';
import type { BotInputs } from './inputs.js';
import type { Reports } from './reports.js';
import type { StepPayload } from './payloads.js';

export class Verifier {
  constructor(
    private readonly inputs: BotInputs,
    private readonly reports: Reports,
    /** This node's id when it may run bots (a runner's own steps come back as already judged), else undefined. */
    private readonly me: string | undefined,
  ) {}

  /**
   * Queues for replay the steps this node has recorded but not yet run; each is judged when its outcome comes back
   * (at once inline, a little later from the replay thread).
   */
  catchUp(bot: Bot): void {
    while (bot.replayedCount < bot.steps.length && bot.seed !== null && bot.needsEngine === null) {
      const rec = bot.steps[bot.replayedCount];
      const payload = rec.payload;
      if (payload === null) {
        bot.skip();
        continue;
      }
      const ctx = bot.contextFor(payload)!;
      bot.run(payload, ctx, (outcome) => {
        // Called from the replay thread's message handler: a failure here must not escape into it.
        try {
          this.judge(bot, rec, payload, outcome);
        } catch (err) {
          this.reports.problem(`bot processing failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      });
    }
  }

  private judge(bot: Bot, rec: StepRecord, p: StepPayload, outcome: StepOutcomeLite): void {
    if (rec.status === 'mismatch') return;
    let status: StepStatus = 'verified';
    let reason: string | undefined;
    if (outcome.status === 'unverifiable') status = 'unverifiable';
    else if (!jsonEqual(outcome.outputs, p.outputs)) [status, reason] = ['mismatch', 'outputs differ from the replay'];
    else if (outcome.stateHash !== p.stateHash) [status, reason] = ['mismatch', 'state hash differs from the replay'];
    else if ((outcome.status === 'error') !== (p.error !== undefined)) {
      [status, reason] = ['mismatch', 'error outcome differs from the replay'];
    }
    this.reports.mark(bot, rec, status, reason);
  }

  /** A step whose payload failed its schema: recorded in sequence, a mismatch, never replayed. */
  malformed(bot: Bot, seen: Seen, reason: string): void {
    const rec: StepRecord = { id: seen.ev.id, n: bot.steps.length + 1, payload: null, status: 'pending' };
    bot.steps.push(rec);
    this.reports.mark(bot, rec, 'mismatch', reason);
  }

  verifyStep(bot: Bot, seen: Seen, p: StepPayload): void {
    const ev = seen.ev;
    if (this.me !== undefined && bot.runnerFor(p.n) === this.me && this.ownStepBack(bot, seen, p)) return;
    const rec: StepRecord = { id: ev.id, n: p.n, payload: p, status: 'pending' };
    const last = bot.steps.at(-1);
    bot.steps.push(rec);
    const fail = (reason: string) => this.reports.mark(bot, rec, 'mismatch', reason);
    if (ev.body.author !== bot.runnerFor(p.n)) return fail('step posted by someone other than the runner');
    if (bot.broken) return fail(bot.broken);
    if (p.n !== bot.steps.length || p.prevStep !== (last?.id ?? null)) return fail('step is out of sequence');
    const input = this.inputs.events.get(p.input.event);
    if (!input) return fail('step names an input this node never saw');
    const inputEv = input.ev;
    const isInit = inputEv.body.type === 'bot.attach';
    const isInput = isInit ? p.n === 1 && p.input.event === bot.attachId : this.inputs.eligible(bot, inputEv);
    if (!isInput) return fail('step input is not an input of this bot');
    if (isFed(input, bot)) return fail('input fed twice');
    if (!jsonEqual(this.inputs.inputFor(bot, inputEv), p.input)) return fail('recorded input does not match the event');
    const skipped = isInit ? undefined : this.inputs.unfedAncestor(bot, inputEv);
    if (skipped) return fail(`input ${skipped.slice(0, 8)} was skipped or reordered`);
    markFed(input, bot);
    // Everything in this step's causal past is now known to be fed: later walks stop here (keeps them short).
    markFed(seen, bot);
    // Another engine may stop a step elsewhere (gas, memory): replaying here proves nothing either way.
    if (bot.needsEngine !== null) {
      const reason = `engine: attached under ${bot.needsEngine}, this node runs ${ENGINE_ID}`;
      return this.reports.mark(bot, rec, 'unverifiable', reason);
    }
    if (bot.seed === null) {
      bot.contextFor(p);
      this.reports.notify(ev.id, 'pending');
      return;
    }
    this.catchUp(bot);
  }

  /** A step this node posted as runner, back through delivery: it was judged when it ran. */
  private ownStepBack(bot: Bot, seen: Seen, p: StepPayload): boolean {
    const at = bot.steps[p.n - 1];
    const rec = at && (at.id === seen.ev.id || !at.id) ? at : undefined;
    if (!rec) return false;
    rec.id = seen.ev.id;
    markFed(seen, bot);
    this.reports.notify(seen.ev.id, rec.status);
    return true;
  }

  /** `bot.reveal`: the runner's seed, checked against the commitment; every step is then replayed from the start. */
  reveal(bot: Bot, seed: string): void {
    if (bot.revealed) return;
    bot.revealed = true;
    if (seedCommitment(seed) !== bot.payload.seed_commitment) {
      const reason = 'revealed seed does not match its commitment';
      for (const rec of bot.steps) if (rec.status === 'pending') this.reports.mark(bot, rec, 'mismatch', reason);
      return;
    }
    if (this.me !== undefined && bot.runner === this.me) return;
    bot.seed = seed;
    bot.resetReplay();
    this.catchUp(bot);
  }
}
