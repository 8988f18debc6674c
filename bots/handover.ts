/**
 * Hand-over of the runner role (`bot.runner`; docs/bots.md "Runner hand-over"). The owner may hand any bot to any
 * member; for a bot without a secret seed any member may also claim it for itself. A secret bot can only be handed
 * over by its current runner, who seals the seed to the new runner. The hand-over applies from the next step this
 * node has not seen; it is meant for a runner that went silent (a step the old runner posts concurrently makes the
 * two views diverge, and is reported). Concurrent hand-overs for the same step: the first in (lamport, id) order
 * wins, whatever order they arrive in.
 */
import { seedCommitment } from './seed.js';
import type { Bot, DeliveredInput, MembershipView } from './bot.js';
import type { Reports } from './reports.js';
import type { Runner } from './runner.js';
import type { Verifier } from './verifier.js';
import type { HandOverPayload } from './payloads.js';

export class HandOvers {
  constructor(
    private readonly membership: MembershipView,
    private readonly reports: Reports,
    private readonly verifier: Verifier,
    private readonly runner: Runner | undefined,
  ) {}

  async apply(bot: Bot, ev: DeliveredInput, p: HandOverPayload): Promise<void> {
    const b = ev.body;
    const to = p.runner;
    const refuse = (why: string) => this.reports.problem(`bot.runner for ${bot.slot} refused: ${why}`);
    if (this.membership.slotOf(to) === undefined && to !== this.membership.owner) {
      return refuse('the new runner is not a member');
    }
    const byOwner = b.author === this.membership.owner;
    if (bot.secret && !bot.revealed && b.author !== bot.runner) {
      return refuse('only the current runner can hand over a bot with a secret seed');
    }
    if (!bot.secret && !byOwner && b.author !== to) return refuse('a member can only claim the runner role for itself');
    const next = bot.steps.length + 1;
    if (p.from_step !== next) return refuse(`it starts at step ${p.from_step}, but the bot is at step ${next}`);
    const rival = bot.handOvers.find((h) => h.fromStep === p.from_step);
    if (rival) {
      const rivalFirst = rival.lamport < b.lamport || (rival.lamport === b.lamport && rival.id < ev.id);
      if (rivalFirst) return refuse('another hand-over for the same step came first');
      bot.handOvers.splice(bot.handOvers.indexOf(rival), 1);
    }
    bot.handOvers.push({ id: ev.id, lamport: b.lamport, runner: to, fromStep: p.from_step });
    if (!this.runner || to !== this.runner.hooks.me) return;
    if (bot.seed === null && p.seed_sealed !== undefined) {
      const seed = this.runner.hooks.openSeed(p.seed_sealed);
      if (seed && seedCommitment(seed) === bot.payload.seed_commitment) {
        // As on a reveal: the pending steps were only tracked, now they are replayed from the start.
        bot.seed = seed;
        bot.resetReplay();
      }
    }
    if (bot.seed === null) {
      return refuse('the sealed seed does not open for this node or does not match the commitment');
    }
    this.verifier.catchUp(bot);
    await this.runner.feedWaiting(bot);
  }
}
