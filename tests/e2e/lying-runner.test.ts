/**
 * A lying runner: an in-process node whose runner hooks are replaced by a test double that posts a wrong output, a
 * wrong state hash, skips an input, reorders inputs, or publishes a seed that does not match its commitment. The
 * honest member is a real `parley mcp` process; it must flag the mismatch, and the fraud proof it writes must hold
 * when `parley verify` checks it offline.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnRelay } from '../helpers/relay.js';
import { CLI, collectUntil, removeHome, startNode, tempHome, type TestNode } from '../helpers/mcp.js';
import { until } from '../helpers/until.js';
import { ParleyNode } from '../../node/service.js';
import { attachBotSupport } from '../../node/bots.js';
import type { Channel } from '../../node/channel.js';
import type { RunnerHooks, StepPayload } from '../../bots/channel-bots.js';
import { seedCommitment } from '../../bots/seed.js';
import { sha256Hex } from '../../protocol/hash.js';
import { ENGINE_ID, DEFAULT_LIMITS } from '../../bots/sandbox.js';

const ROLLER = `export default {
  init(ctx) { ctx.state = { n: 0 }; },
  onJoin(ctx, member) {},
  onMessage(ctx, msg) {
    if (msg.kind !== 'roll') return;
    ctx.state.n += 1;
    ctx.post('rolled', { label: msg.body, value: 1 + Math.floor(ctx.random() * 6), n: ctx.state.n });
  },
};`;

type Relay = Awaited<ReturnType<typeof spawnRelay>>;
let relay: Relay;
let runner: ParleyNode;
let bob: TestNode;
const homes: string[] = [];

beforeAll(async () => {
  relay = await spawnRelay();
  const home = tempHome();
  homes.push(home);
  runner = await ParleyNode.open({ home, relays: [relay.url], env: { PARLEY_RATE_LIMIT_PER_MIN: '10000' } });
  bob = await startNode({ relays: [relay.url] });
  homes.push(bob.home);
});

afterAll(async () => {
  await bob?.close();
  runner?.close();
  await relay?.stop();
  homes.forEach(removeHome);
});

/** The body of the message a step answers, if it answers one. */
const inputBody = (p: StepPayload): unknown => (p.input.arg as { body?: unknown } | null)?.body;

/** Replaces the runner's posting hooks for one channel with `lie`, which may post, alter, hold or drop steps. */
function lieAbout(channel: Channel, lie: (p: StepPayload, post: (p: StepPayload) => string) => void): void {
  const hooks = (channel.bots as unknown as { runner: RunnerHooks }).runner;
  let last: string | null = null;
  const post = (p: StepPayload): string => {
    const id = channel.post(
      'bot.step',
      { ...p, prevStep: last } as unknown as Record<string, unknown>,
      channel.epoch,
      [p.input.event, ...(last ? [last] : [])].sort(),
    );
    last = id;
    return id;
  };
  let n = 0;
  hooks.postStep = (payload) => lie(structuredClone(payload), (p) => post({ ...p, n: ++n }));
}

async function setUp(slotName: string, lie?: Parameters<typeof lieAbout>[1]) {
  const created = runner.createChannel({
    name: `lie-${slotName}`,
    slots: ['invite:bob', `bot:${slotName}`],
    display_name: 'Runner',
  });
  const channel = created.channelObj;
  if (lie) lieAbout(channel, lie);
  attachBotSupport(runner).attachBot({ channel: created.channel, slot: `bot:${slotName}`, code: ROLLER });
  await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
  return created.channel;
}

async function expectMismatch(ch: string, slot: string, reason: RegExp): Promise<void> {
  const v = await until(
    () => bob.call('verify_channel', { channel: ch }),
    (r) => r.bots.some((b) => b.slot === slot && b.mismatches > 0),
    {
      what: `a mismatch of ${slot}`,
    },
  );
  expect(v.ok, JSON.stringify(v)).toBe(false);
  expect(v.bots.find((b) => b.slot === slot)?.mismatches).toBeGreaterThan(0);
  expect(v.problems.join('\n')).toMatch(reason);

  const dir = join(bob.home, 'proofs');
  const proofs = await until(
    () => (existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(ch)) : []),
    (files) => files.length > 0,
    { what: 'a fraud proof' },
  );
  const r = spawnSync(process.execPath, [CLI, 'verify', join(dir, proofs[0])], { encoding: 'utf8' });
  expect(r.stdout).toMatch(/FRAUD PROOF HOLDS/);
  expect(r.status).toBe(0);
}

async function roll(ch: string, ...labels: string[]): Promise<void> {
  for (const label of labels) await bob.call('post_message', { channel: ch, kind: 'roll', body: label });
}

describe('a lying runner is caught by an honest node', () => {
  it('an honest runner verifies (control)', async () => {
    const ch = await setUp('honest');
    await roll(ch, 'a', 'b');
    // Verification marks change after a message was first read: poll the whole history, not only new messages.
    const verified = async () =>
      (await bob.call('sync_messages', { channel: ch, cursor: '0', limit: 500 })).messages.filter(
        (m) => m.kind === 'rolled' && m.verification === 'verified',
      ).length;
    await until(verified, (n) => n >= 2, { what: 'the two rolls to be verified' });
    const v = await bob.call('verify_channel', { channel: ch });
    expect(v).toMatchObject({ ok: true, problems: [] });
    expect(v.bots[0]).toMatchObject({ mismatches: 0, pending: 0 });
  });

  it('a wrong output', async () => {
    const ch = await setUp('output', (p, post) => {
      // A d6 never rolls 7: always a lie.
      if (inputBody(p) === 'x') p.outputs = [{ kind: 'rolled', body: { label: 'x', value: 7, n: 1 } }];
      post(p);
    });
    await roll(ch, 'x');
    await expectMismatch(ch, 'bot:output', /outputs differ/);
    const seen = await collectUntil(bob, ch, (all) => all.some((m) => m.kind === 'rolled'));
    expect(seen.find((m) => m.kind === 'rolled')?.verification).toBe('mismatch');
  });

  it('a wrong state hash', async () => {
    const ch = await setUp('state', (p, post) => {
      if (inputBody(p) === 'x') p.stateHash = '0'.repeat(64);
      post(p);
    });
    await roll(ch, 'x');
    await expectMismatch(ch, 'bot:state', /state hash differs/);
  });

  it('a step time that is not a timestamp', async () => {
    // The guest receives `now` as a number argument: a runner must not get a string or object through as ctx.now.
    const ch = await setUp('time', (p, post) => {
      if (inputBody(p) === 'x') (p as { now: unknown }).now = 'soon';
      post(p);
    });
    await roll(ch, 'x');
    await expectMismatch(ch, 'bot:time', /not an integer timestamp/);
  });

  it('a skipped input', async () => {
    const ch = await setUp('skip', (p, post) => {
      if (inputBody(p) !== 'skipped') post(p);
    });
    await roll(ch, 'skipped', 'next');
    await expectMismatch(ch, 'bot:skip', /skipped or reordered/);
  });

  it('reordered inputs', async () => {
    let held: StepPayload | null = null;
    const ch = await setUp('reorder', (p, post) => {
      if (inputBody(p) === 'first') {
        held = p;
        return;
      }
      post(p);
      if (held) post(held);
    });
    await roll(ch, 'first', 'second');
    await expectMismatch(ch, 'bot:reorder', /skipped or reordered/);
  });

  it('a published seed that does not match its commitment', async () => {
    const created = runner.createChannel({
      name: 'lie-seed',
      slots: ['invite:bob', 'bot:seed'],
      display_name: 'Runner',
    });
    const channel = created.channelObj;
    const seed = 'ab'.repeat(32);
    channel.post('bot.attach', {
      bot: 'bot:seed',
      source: ROLLER,
      code_hash: sha256Hex(ROLLER),
      params: {},
      runner: runner.me,
      seed_commitment: seedCommitment('cd'.repeat(32)),
      seed,
      manifest: { engine: ENGINE_ID, limits: DEFAULT_LIMITS, secret: false, hooks: ['init', 'onJoin', 'onMessage'] },
    });
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
    await roll(created.channel, 'x');
    const broken = /bot:seed: published seed does not match its commitment/;
    const v = await until(
      () => bob.call('verify_channel', { channel: created.channel }),
      (r) => r.problems.some((p: string) => broken.test(p)),
      { what: 'the broken seed reported' },
    );
    expect(v.ok, JSON.stringify(v)).toBe(false);
  });
});
