/**
 * Metered bots between real `parley mcp` nodes (issue 14): a bot that hashes big strings through ctx.commit, one
 * that keeps 30 MB strings and one that keeps millions of small objects each stop with a deterministic error that
 * the runner records and every verifier (another node, and `parley verify` offline) reproduces at the same step;
 * the runner's node keeps answering meanwhile and its memory stays bounded. A node running another engine reports
 * the steps unverifiable (engine), never a mismatch, and writes no fraud proof.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnRelay } from '../helpers/relay.js';
import {
  CLI,
  errorText,
  removeHome,
  startNode,
  tempHome,
  type ReadMessage,
  type TestNode,
  type ToolResults,
} from '../helpers/mcp.js';
import { until } from '../helpers/until.js';
import { HASHER, BIG_STRINGS, SMALL_OBJECTS } from '../bots/hoarders.js';

type Relay = Awaited<ReturnType<typeof spawnRelay>>;
let relay: Relay;
let alice: TestNode;
let bob: TestNode;
const scratch = tempHome('parley-bot-limits-');
const MiB = 1024 * 1024;

beforeAll(async () => {
  relay = await spawnRelay();
  [alice, bob] = await Promise.all([0, 1].map(() => startNode({ relays: [relay.url] })));
});

afterAll(async () => {
  await Promise.all([alice, bob].map((n) => n?.close()));
  await relay?.stop();
  for (const n of [alice, bob]) if (n) removeHome(n.home);
  removeHome(scratch);
});

function parley(home: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, PARLEY_HOME: home, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Every message of the channel so far, from the start. */
async function messages(node: TestNode, channel: string): Promise<ReadMessage[]> {
  const all: ReadMessage[] = [];
  let cursor: string | undefined;
  for (;;) {
    const r = await node.call('sync_messages', { channel, cursor, limit: 500 });
    all.push(...r.messages);
    cursor = r.cursor;
    if (r.messages.length < 500) return all;
  }
}

const botOutputs = (all: ReadMessage[], slot: string) =>
  all.filter((m) => m.from === slot).map((m) => ({ kind: m.kind, body: m.body, verification: m.verification }));

/** Waits until `node` has judged every step of every bot (nothing pending) with at least `minSteps` each. */
async function settled(node: TestNode, channel: string, minSteps: number) {
  return until(
    () => node.call('verify_channel', { channel }),
    (r) => r.bots.length > 0 && r.bots.every((b) => b.pending === 0 && b.steps >= minSteps),
    60_000,
  );
}

/** The process's peak resident memory (VmHWM), in bytes. */
function peakRss(node: TestNode): number {
  const pid = node.transport.pid!;
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

async function join2(created: ToolResults['create_channel'], slot = 'invite:bob') {
  await bob.call('join_channel', { invite_code: created.invites[slot], display_name: 'Bob' });
}

describe('metered bots over MCP', () => {
  it(
    'the hashing bot runs out of gas on the runner and on every verifier; the node answers `who` ' + 'meanwhile',
    async () => {
      // The hashing bot commits, so its seed is secret: a 'done' message reveals it and every step is replayed.
      const src = HASHER.replace(
        "ctx.post('ok', ctx.state.n);",
        "if (msg.kind === 'done') { ctx.state.h = ctx.commit(1); ctx.reveal(ctx.state.h); } ctx.post('ok', " +
          'ctx.state.n);',
      );
      const created = await alice.call('create_channel', {
        name: 'hasher',
        slots: ['invite:bob', 'bot:hash'],
        bot: { code: src },
        display_name: 'Alice',
      });
      const ch = created.channel;
      await join2(created);
      await bob.call('post_message', { channel: ch, kind: 'attack', body: 'go' });
      const who = await alice.call('who', { channel: ch });
      expect(who.members.map((m) => m.slot)).toContain('invite:bob');
      const stopped = await until(
        () => messages(bob, ch),
        (all) => all.some((m) => m.from === 'bot:hash' && m.kind === 'error'),
        60_000,
      );
      const error = stopped.find((m) => m.from === 'bot:hash' && m.kind === 'error');
      expect(error?.body).toMatch(/^"?out of gas \(more than 400 units\)/);
      await bob.call('post_message', { channel: ch, kind: 'done', body: '' });
      await until(
        () => messages(bob, ch),
        (all) => all.some((m) => m.from === 'bot:hash' && m.kind === 'reveal'),
        60_000,
      );
      for (const n of [alice, bob]) {
        const r = await settled(n, ch, 4);
        expect(r.bots[0]).toMatchObject({ mismatches: 0, pending: 0, verified: r.bots[0].steps });
        expect(r.problems).toEqual([]);
      }
      const file = join(scratch, 'hasher.json');
      expect(parley(bob.home, ['export', ch, '-o', file]).code).toBe(0);
      const offline = parley(bob.home, ['verify', file]);
      expect(offline.out).toMatch(/OK: everything verifies/);
    },
  );

  it(
    '30 MB strings and millions of small objects each fail with out of memory at the same step ' +
      'everywhere, RSS bounded',
    async () => {
      const created = await alice.call('create_channel', {
        name: 'hoarders',
        slots: ['invite:bob'],
        display_name: 'Alice',
      });
      const ch = created.channel;
      // attach_bot with limits: both bots need more gas than the default to fill their memory (making a 30 MB
      // string is charged ~1,800 gas, 250,000 objects take thousands of bytecode units).
      await alice.call('attach_bot', { channel: ch, slot: 'bot:big', code: BIG_STRINGS, limits: { gas: 20_000 } });
      const refused = await alice.raw('attach_bot', {
        channel: ch,
        slot: 'bot:objs',
        code: SMALL_OBJECTS,
        limits: { gas: 50_000 },
      });
      expect(refused.isError).toBe(true);
      expect(errorText(refused)).toMatch(/gas must be an integer from 1 to 20000/);
      await alice.call('attach_bot', {
        channel: ch,
        slot: 'bot:objs',
        code: SMALL_OBJECTS,
        limits: { gas: 20_000, memory: 32 * MiB },
      });
      await join2(created);
      const inputs = 6;
      for (let i = 0; i < inputs; i++) await bob.call('post_message', { channel: ch, kind: 'grow', body: String(i) });
      // Steps: init, Bob's join (onJoin), then one per message.
      for (const n of [alice, bob]) {
        const r = await settled(n, ch, inputs + 2);
        for (const b of r.bots) expect(b).toMatchObject({ mismatches: 0, pending: 0, verified: b.steps });
        expect(r.problems).toEqual([]);
      }
      const onAlice = await messages(alice, ch);
      const onBob = await messages(bob, ch);
      for (const slot of ['bot:big', 'bot:objs']) {
        const a = botOutputs(onAlice, slot);
        expect(botOutputs(onBob, slot)).toEqual(a);
        const firstError = a.findIndex((o) => o.kind === 'error');
        expect(firstError, JSON.stringify(a)).toBeGreaterThanOrEqual(0);
        expect(a[firstError].body).toMatch(/out of memory/);
        expect(a.every((o) => o.verification === 'verified')).toBe(true);
      }
      // The 30 MB bot keeps one string, then fails on the second.
      expect(
        botOutputs(onAlice, 'bot:big')
          .slice(0, 2)
          .map((o) => o.kind),
      ).toEqual(['kept', 'error']);
      const file = join(scratch, 'hoarders.json');
      expect(parley(bob.home, ['export', ch, '-o', file]).code).toBe(0);
      expect(parley(bob.home, ['verify', file]).out).toMatch(/OK: everything verifies/);
      // Two bots of at most 16 MiB (the engine's own) + 32 MiB each, on a node whose own footprint stays under 300 MiB.
      const rss = [peakRss(alice), peakRss(bob)];
      console.log(`peak RSS: runner ${(rss[0] / MiB).toFixed(0)} MiB, verifier ${(rss[1] / MiB).toFixed(0)} MiB`);
      for (const r of rss) expect(r).toBeLessThan(2 * (16 + 32) * MiB + 300 * MiB);
    },
  );
});

describe('engine versions over MCP', () => {
  it(
    'a node running another engine reports the steps unverifiable (engine), writes no fraud proof, and parley ' +
      'verify names the engine',
    async () => {
      const other = 'qjs-test-other-engine';
      const carol = await startNode({ relays: [relay.url], env: { PARLEY_TEST_ENGINE_ID: other } });
      try {
        const created = await alice.call('create_channel', {
          name: 'dice-engines',
          slots: ['invite:carol', 'bot:dice'],
          bot: { preset: 'dice' },
          display_name: 'Alice',
        });
        const ch = created.channel;
        const bot = await alice.call('get_bot', { channel: ch, slot: 'bot:dice' });
        expect(bot.engine).toMatch(/^qjs-[0-9a-f]{16}$/);
        await carol.call('join_channel', { invite_code: created.invites['invite:carol'], display_name: 'Carol' });
        for (let i = 0; i < 3; i++) await carol.call('post_message', { channel: ch, kind: 'roll', body: '2d6' });
        // Steps: init, Carol's join (onJoin), three rolls.
        const r = await until(
          () => carol.call('verify_channel', { channel: ch }),
          (v) => v.bots.length > 0 && v.bots[0].steps >= 5 && v.bots[0].pending === 0,
          60_000,
        );
        expect(r.bots[0]).toMatchObject({
          mismatches: 0,
          verified: 0,
          unverifiable: r.bots[0].steps,
          needsEngine: bot.engine,
        });
        expect(r.problems.join('\n')).toContain(
          `attached under engine ${bot.engine}, this node runs engine ${other}: its steps are ` +
            `unverifiable here (engine)`,
        );
        const rolled = (await messages(carol, ch)).filter((m) => m.from === 'bot:dice' && m.kind === 'rolled');
        expect(rolled.length).toBe(3);
        expect(rolled.every((m) => m.verification === 'unverifiable')).toBe(true);
        const proofs = join(carol.home, 'proofs');
        expect(existsSync(proofs) ? readdirSync(proofs) : []).toEqual([]);
        // The runner's own engine verifies everything.
        const a = await settled(alice, ch, 5);
        expect(a.bots[0]).toMatchObject({ mismatches: 0, verified: a.bots[0].steps });
        const file = join(scratch, 'dice-engines.json');
        expect(parley(carol.home, ['export', ch, '-o', file]).code).toBe(0);
        const elsewhere = parley(carol.home, ['verify', file], { PARLEY_TEST_ENGINE_ID: other });
        expect(elsewhere.code).not.toBe(0);
        expect(elsewhere.out).toContain(`bot bot:dice needs engine ${bot.engine}; this parley runs engine ${other}`);
        expect(elsewhere.out).not.toMatch(/mismatches: [1-9]|FRAUD PROOF HOLDS/);
        expect(parley(carol.home, ['verify', file]).out).toMatch(/OK: everything verifies/);
      } finally {
        await carol.close();
        removeHome(carol.home);
      }
    },
  );
});
