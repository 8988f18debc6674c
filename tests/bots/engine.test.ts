/**
 * Engine versions (issue 14): a bot attached under one engine id and verified by a node with another is reported
 * unverifiable, with the engine it needs, never as a mismatch (so no fraud proof is ever written for it).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ready } from '../../protocol/sodium.js';
import { ChannelBots, type StepStatus } from '../../bots/channel-bots.js';
import type { AttachPayload, StepPayload } from '../../bots/payloads.js';
import { Membership } from '../../node/membership.js';
import { ENGINE_ID, MAX_LIMITS, requestLimits, DEFAULT_LIMITS } from '../../bots/sandbox.js';
import { buildBotLog, dicePicker, settle, type BotLog } from '../../dev/bots-log.js';

beforeAll(ready);

async function verify(log: BotLog, engine?: string) {
  const membership = new Membership(log.ch);
  const marks: { status: StepStatus; claim: unknown }[] = [];
  const bots = new ChannelBots(
    log.ch,
    membership,
    () => log.name,
    undefined,
    (_id, status, claim) => marks.push({ status, claim }),
  );
  for (const e of log.events) {
    // A copy: the verifier reads the attach as another Parley version would have written it.
    const body = structuredClone(e.body);
    if (engine !== undefined && body.type === 'bot.attach') (body.payload as AttachPayload).manifest!.engine = engine;
    membership.apply(e.id, body);
    bots.deliver({ id: e.id, body });
  }
  await settle(bots);
  const report = bots.report();
  bots.close();
  return { report, marks };
}

describe('engine id', () => {
  it('is recorded in bot.attach and a node with the same engine verifies every step', async () => {
    const log = await buildBotLog('dice', dicePicker(4));
    const attach = log.events.find((e) => e.body.type === 'bot.attach')!;
    expect((attach.body.payload as AttachPayload).manifest?.engine).toBe(ENGINE_ID);
    const { report, marks } = await verify(log);
    expect(report.bots[0]).toMatchObject({ verified: log.steps, mismatches: 0, unverifiable: 0 });
    expect(report.bots[0].needsEngine).toBeUndefined();
    expect(marks.every((m) => m.status === 'verified')).toBe(true);
  });

  it(
    'steps of a bot attached under another engine are unverifiable (engine), never a mismatch or a ' + 'claim',
    async () => {
      const log = await buildBotLog('dice', dicePicker(4));
      const other = 'qjs-0000000000000000';
      const { report, marks } = await verify(log, other);
      expect(report.bots[0]).toMatchObject({
        steps: log.steps,
        verified: 0,
        mismatches: 0,
        unverifiable: log.steps,
        needsEngine: other,
      });
      expect(marks.length).toBe(log.steps);
      expect(marks.every((m) => m.status === 'unverifiable' && m.claim === undefined)).toBe(true);
      expect(report.problems.join('\n')).toContain(
        `attached under engine ${other}, this node runs engine ${ENGINE_ID}: its steps are unverifiable here (engine)`,
      );
      expect(report.problems.some((p) => /step \d+:/.test(p))).toBe(false);
    },
  );

  it('a structural lie is still a mismatch under another engine (only replay depends on the engine)', async () => {
    const log = await buildBotLog('dice', dicePicker(3));
    const step = log.events.find((e) => e.body.type === 'bot.step' && (e.body.payload as StepPayload).n === 2)!;
    const membership = new Membership(log.ch);
    const marks: StepStatus[] = [];
    const bots = new ChannelBots(
      log.ch,
      membership,
      () => log.name,
      undefined,
      (_id, status) => marks.push(status),
    );
    for (const e of log.events) {
      const body = structuredClone(e.body);
      if (body.type === 'bot.attach') (body.payload as AttachPayload).manifest!.engine = 'qjs-other';
      if (e === step) (body.payload as StepPayload).now = 1.5;
      membership.apply(e.id, body);
      bots.deliver({ id: e.id, body });
    }
    await settle(bots);
    expect(bots.report().bots[0].mismatches).toBeGreaterThan(0);
    bots.close();
  });
});

describe('attach_bot limits', () => {
  it('defaults, accepts values within the maxima and refuses the rest with the bound', () => {
    expect(requestLimits()).toEqual(DEFAULT_LIMITS);
    expect(requestLimits({ memory: 64 * 1024 * 1024, gas: 1000 })).toMatchObject({
      memoryBytes: 64 * 1024 * 1024,
      gas: 1000,
    });
    expect(() => requestLimits({ memory: MAX_LIMITS.memoryBytes + 1 })).toThrow(
      /limits.memory must be an integer from 1048576 to 134217728/,
    );
    expect(() => requestLimits({ gas: 0 })).toThrow(/limits.gas must be an integer from 1 to 20000/);
    expect(() => requestLimits({ gas: 1.5 })).toThrow(/limits.gas/);
  });
});
