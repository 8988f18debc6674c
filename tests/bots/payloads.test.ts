/**
 * Bot event payloads are checked against their schemas (bots/payloads.ts) once, when the bots handle them: a
 * malformed step is a mismatch with the schema's reason (and keeps its place in the sequence), a malformed attach
 * makes no bot, and what a schema keeps loose (unknown keys) still counts when a verifier compares.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ready } from '../../protocol/sodium.js';
import type { EventBody } from '../../protocol/event.js';
import { ChannelBots, type MismatchClaim, type StepStatus } from '../../bots/channel-bots.js';
import { StepPayloadSchema, type AttachPayload, type StepPayload } from '../../bots/payloads.js';
import { Membership } from '../../node/membership.js';
import { buildBotLog, dicePicker, settle, type BotLog } from '../../dev/bots-log.js';

beforeAll(ready);

/** Verifies `log` on a fresh verifier after `tamper` changed a copy of each body (return false to leave it out). */
async function verifyTampered(log: BotLog, tamper: (body: EventBody) => void | false) {
  const membership = new Membership(log.ch);
  const marks: { status: StepStatus; claim?: MismatchClaim }[] = [];
  const bots = new ChannelBots(
    log.ch,
    membership,
    () => log.name,
    undefined,
    (_id, status, claim) => {
      marks.push({ status, claim });
    },
  );
  for (const e of log.events) {
    const body = structuredClone(e.body);
    if (tamper(body) === false) continue;
    membership.apply(e.id, body);
    bots.deliver({ id: e.id, body });
  }
  await settle(bots);
  const report = bots.report();
  bots.close();
  return { report, marks };
}

const stepN = (body: EventBody, n: number): StepPayload | undefined => {
  const p = body.payload as StepPayload;
  return body.type === 'bot.step' && p.n === n ? p : undefined;
};

describe('bot payload schemas', () => {
  it("an honest runner's steps all pass the step schema", async () => {
    const log = await buildBotLog('dice', dicePicker(3));
    for (const p of log.stepPayloads) expect(StepPayloadSchema.safeParse(p).success).toBe(true);
  });

  it('a step without outputs is a mismatch named by the schema, and keeps its place in the sequence', async () => {
    const log = await buildBotLog('dice', dicePicker(3));
    const { report, marks } = await verifyTampered(log, (body) => {
      const p = stepN(body, 2);
      if (p) delete (p as Partial<StepPayload>).outputs;
    });
    expect(report.bots[0]).toMatchObject({ steps: log.steps });
    expect(report.problems).toContain(
      'bot bot:dice step 2: outputs: Invalid input: expected array, received undefined',
    );
    const claim = marks.find((m) => m.claim)?.claim;
    expect(claim).toMatchObject({ bot: 'bot:dice', n: 2, reason: expect.stringMatching(/^outputs: /) });
    // The step before it (init) still verifies.
    expect(marks.some((m) => m.status === 'verified')).toBe(true);
  });

  it('a step time that is not an integer is a mismatch with that reason', async () => {
    const log = await buildBotLog('dice', dicePicker(2));
    const { report } = await verifyTampered(log, (body) => {
      const p = stepN(body, 2);
      if (p) p.now = 1.5;
    });
    expect(report.problems).toContain('bot bot:dice step 2: step time is not an integer timestamp');
  });

  it('a key a runner adds to a recorded input is kept, so the input no longer matches the event', async () => {
    const log = await buildBotLog('dice', dicePicker(2));
    const { report } = await verifyTampered(log, (body) => {
      const p = stepN(body, 2);
      if (p) (p.input as StepPayload['input'] & { extra?: boolean }).extra = true;
    });
    expect(report.problems).toContain('bot bot:dice step 2: recorded input does not match the event');
  });

  it('an attach without a runner makes no bot; its steps are reported against an unknown bot', async () => {
    const log = await buildBotLog('dice', dicePicker(1));
    const { report } = await verifyTampered(log, (body) => {
      if (body.type === 'bot.attach') delete (body.payload as Partial<AttachPayload>).runner;
    });
    expect(report.bots).toEqual([]);
    const refused = 'bot.attach for bot:dice refused: runner: Invalid input: expected string, received undefined';
    expect(report.problems[0]).toBe(refused);
    expect(report.problems).toContain('bot.step for unknown bot bot:dice');
  });
});
