/**
 * Full games over MCP between real `parley mcp` nodes: guess, tictactoe and blackjack. Afterwards every node's
 * verify_channel reports zero mismatches and zero pending, `parley export` + `parley verify` exit 0, and the same
 * export with one bot output edited exits non-zero.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnRelay } from '../helpers/relay.js';
import { CLI, removeHome, startNode, tempHome, type ReadMessage, type TestNode } from '../helpers/mcp.js';
import type { Transcript } from '../../node/transcript.js';
import type { EventBody } from '../../protocol/event.js';
import type { StepPayload } from '../../bots/payloads.js';
import { until } from '../helpers/until.js';

type Relay = Awaited<ReturnType<typeof spawnRelay>>;
let relay: Relay;
let alice: TestNode;
let bob: TestNode;
let carol: TestNode;
const scratch = tempHome('parley-games-');

beforeAll(async () => {
  relay = await spawnRelay();
  [alice, bob, carol] = await Promise.all([0, 1, 2].map(() => startNode({ relays: [relay.url] })));
});

afterAll(async () => {
  await Promise.all([alice, bob, carol].map((n) => n?.close()));
  await relay?.stop();
  for (const n of [alice, bob, carol]) if (n) removeHome(n.home);
  removeHome(scratch);
});

/** Reads a node's channel from the start on every call, so callers can wait for any message by predicate. */
class Table {
  private cursor: string | undefined;
  readonly seen: (ReadMessage & { consumed?: boolean })[] = [];
  constructor(
    readonly node: TestNode,
    readonly channel: string,
  ) {}

  /** Waits for the first not-yet-consumed message matching `pred` and returns it. */
  async next(pred: (m: ReadMessage) => boolean, timeoutMs = 20_000): Promise<ReadMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.seen.findIndex((m) => !m.consumed && pred(m));
      if (i >= 0) {
        this.seen[i].consumed = true;
        return this.seen[i];
      }
      if (Date.now() > deadline)
        throw new Error(`no matching message within ${timeoutMs} ms; last: ${JSON.stringify(this.seen.slice(-3))}`);
      const r = await this.node.call('sync_messages', {
        channel: this.channel,
        cursor: this.cursor,
        limit: 500,
        wait_seconds: 2,
      });
      this.cursor = r.cursor;
      this.seen.push(...r.messages);
    }
  }

  post(kind: string, body: string) {
    return this.node.call('post_message', { channel: this.channel, kind, body });
  }
}

const fromBot = (name: string, kind: string, to?: string) => (m: ReadMessage) =>
  m.from === `bot:${name}` && m.kind === kind && (to === undefined || m.to === to);

/** Waits until the node has replayed every bot step with nothing pending, then checks the whole report. */
async function expectVerified(node: TestNode, channel: string, minSteps: number) {
  const report = await until(
    () => node.call('verify_channel', { channel }),
    (r) => r.bots.length > 0 && r.bots.every((b) => b.pending === 0 && b.steps >= minSteps),
    {
      what: `every bot verified up to step ${minSteps}`,
    },
  );
  expect(report.problems).toEqual([]);
  for (const b of report.bots) {
    expect(b.mismatches).toBe(0);
    expect(b.pending).toBe(0);
    expect(b.steps).toBeGreaterThanOrEqual(minSteps);
    expect(b.verified).toBe(b.steps);
  }
  expect(report.ok).toBe(true);
  return report;
}

function parley(node: TestNode, args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, PARLEY_HOME: node.home },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return {
    code: r.status,
    out: `${r.stdout}${r.stderr}${r.signal ? ` (signal ${r.signal})` : ''}${r.error ? ` (${r.error.message})` : ''}`,
  };
}

/** Exports from `node`, verifies offline, then edits one bot output and expects verification to fail. */
function expectOfflineVerification(node: TestNode, channel: string, name: string) {
  const file = join(scratch, `${name}.json`);
  const exported = parley(node, ['export', channel, '-o', file]);
  expect(exported.code, exported.out).toBe(0);
  const ok = parley(node, ['verify', file]);
  expect(ok.out).toMatch(/OK: everything verifies/);
  expect(ok.code, ok.out).toBe(0);

  const transcript = JSON.parse(readFileSync(file, 'utf8')) as Transcript;
  const step = transcript.events.find((e) => {
    const b = JSON.parse(e.body) as EventBody;
    return b.type === 'bot.step' && Array.isArray(b.payload.outputs) && b.payload.outputs.length > 0;
  });
  if (!step) throw new Error('the transcript has no bot step with outputs');
  const body = JSON.parse(step.body) as EventBody & { payload: StepPayload };
  body.payload.outputs[0].body = 'edited by a cheater';
  step.body = JSON.stringify(body);
  const edited = join(scratch, `${name}-edited.json`);
  writeFileSync(edited, JSON.stringify(transcript));
  const bad = parley(node, ['verify', edited]);
  expect(bad.code).not.toBe(0);
  expect(bad.out).not.toMatch(/OK: everything verifies/);
  expect(bad.out).not.toMatch(/\n\s+at /);
}

describe('games over MCP', () => {
  it('guess: Bob finds the number by binary search; every node and the offline verifier agree', async () => {
    const created = await alice.call('create_channel', {
      name: 'guess',
      slots: ['invite:bob', 'bot:guess'],
      bot: { preset: 'guess' },
    });
    const ch = created.channel;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
    const table = new Table(bob, ch);
    const commitment = await table.next(fromBot('guess', 'commitment'));
    let [lo, hi] = [1, 100];
    let guesses = 0;
    for (;;) {
      const g = Math.floor((lo + hi) / 2);
      await table.post('guess', String(g));
      guesses++;
      const hint = await table.next(fromBot('guess', 'hint', 'invite:bob'));
      if (hint.body === 'correct') break;
      if (hint.body === 'higher') lo = g + 1;
      else hi = g - 1;
      expect(guesses).toBeLessThan(8);
    }
    const reveal = await table.next(fromBot('guess', 'reveal'));
    expect(JSON.parse(reveal.body).hash).toBe(JSON.parse(commitment.body).hash);
    for (const n of [alice, bob]) await expectVerified(n, ch, guesses + 1);
    expectOfflineVerification(bob, ch, 'guess');
  });

  it('tictactoe: illegal moves are answered, X wins, and the game verifies everywhere', async () => {
    const created = await alice.call('create_channel', {
      name: 'ttt',
      slots: ['invite:bob', 'bot:ttt'],
      bot: { preset: 'tictactoe' },
      display_name: 'Alice',
    });
    const ch = created.channel;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
    const [a, b] = [new Table(alice, ch), new Table(bob, ch)];
    const board = () => b.next(fromBot('ttt', 'board'));

    await a.post('move', '0');
    expect(JSON.parse((await board()).body).board).toBe('X........');
    await b.post('move', '0');
    expect((await b.next(fromBot('ttt', 'illegal', 'invite:bob'))).body).toMatch(/taken/);
    await b.post('move', '3');
    await board();
    await b.post('move', '4');
    expect((await b.next(fromBot('ttt', 'illegal', 'invite:bob'))).body).toMatch(/not your turn/);
    for (const [t, cell] of [
      [a, 1],
      [b, 4],
      [a, 2],
    ] as const) {
      await t.post('move', String(cell));
      await board();
    }
    expect((await b.next(fromBot('ttt', 'result'))).body).toBe('Alice (X) wins.');
    for (const n of [alice, bob]) await expectVerified(n, ch, 8);
    expectOfflineVerification(alice, ch, 'tictactoe');
  });

  it("a bot that reads its inputs' key order sees the same order on the runner and on every verifier", async () => {
    // Object.keys and JSON.stringify expose insertion order: the runner must hand its bot inputs in the order a
    // verifier reads them back from the signed (canonical, sorted) step, or an honest runner gets flagged.
    const code =
      `export default {
      init(ctx, params) { ctx.state = { seen: 0 }; },
      onJoin(ctx, member) { ctx.post('join-keys', Object.keys(member).join(',')); },
      onMessage(ctx, msg) { ctx.state.seen += 1; ctx.post('msg-keys', Object.keys(msg).join(',') + ' ' + ` +
      `JSON.stringify(msg.body)); },
    };`;
    const created = await alice.call('create_channel', {
      name: 'keys',
      slots: ['invite:bob', 'bot:keys'],
      bot: { code },
      display_name: 'Alice',
    });
    const ch = created.channel;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
    const [a, b] = [new Table(alice, ch), new Table(bob, ch)];
    expect((await b.next(fromBot('keys', 'join-keys'))).body).toBe('entropy,id,name,slot');
    await a.post('note', 'from the runner');
    await b.post('note', 'from a verifier');
    const first = await b.next(fromBot('keys', 'msg-keys'));
    expect(first.body).toBe('author,body,from,id,kind,name,ts "from the runner"');
    await b.next(fromBot('keys', 'msg-keys'));
    for (const n of [alice, bob]) await expectVerified(n, ch, 4);
    expectOfflineVerification(bob, ch, 'keys');
  });

  it('blackjack: three players, committed shuffle revealed at the end, verified by all three nodes', async () => {
    const created = await alice.call('create_channel', {
      name: 'blackjack',
      slots: ['invite:bob', 'invite:carol', 'bot:dealer'],
      bot: { preset: 'blackjack' },
      display_name: 'Alice',
    });
    const ch = created.channel;
    await bob.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'Bob' });
    await carol.call('join_channel', { invite_code: created.invites['invite:carol'], display_name: 'Carol' });
    const tables = {
      owner: new Table(alice, ch),
      'invite:bob': new Table(bob, ch),
      'invite:carol': new Table(carol, ch),
    } as Record<string, Table>;
    const shuffled = await tables.owner.next(fromBot('dealer', 'shuffled'));

    for (const seat of ['owner', 'invite:bob', 'invite:carol']) {
      await tables[seat].post('sit', '');
      await tables[seat].next((m) => fromBot('dealer', 'seated')(m) && JSON.parse(m.body).player === seat);
    }
    await tables['invite:bob'].post('hit', '');
    expect((await tables['invite:bob'].next(fromBot('dealer', 'info', 'invite:bob'))).body).toMatch(/Nothing dealt/);
    await tables.owner.post('deal', '');
    const dealt = JSON.parse((await tables.owner.next(fromBot('dealer', 'dealt'))).body) as {
      hands: { player: string; hand: string[] }[];
      dealer_shows: string;
    };
    expect(dealt.hands.map((h) => h.player)).toEqual(['owner', 'invite:bob', 'invite:carol']);

    // Everyone plays "hit below 17" on their own node, watching the public turn and card announcements.
    const watcher = tables.owner;
    const nextTurnOrResult = () =>
      watcher.next((x) => fromBot('dealer', 'turn')(x) || fromBot('dealer', 'result')(x), 30_000);
    let m = await nextTurnOrResult();
    while (m.kind === 'turn') {
      const turn = JSON.parse(m.body);
      let total = turn.total as number;
      // A hit below 21 keeps the turn (only a card is announced); a stand, a bust or 21 passes it on.
      while (total < 17) {
        await tables[turn.player].post('hit', '');
        total = JSON.parse((await watcher.next(fromBot('dealer', 'card'))).body).total;
      }
      if (total < 21) await tables[turn.player].post('stand', '');
      m = await nextTurnOrResult();
    }
    const result = JSON.parse(m.body) as { results: { player: string; outcome: string }[] };
    expect(result.results.map((r) => r.player)).toEqual(['owner', 'invite:bob', 'invite:carol']);
    for (const r of result.results) expect(['win', 'lose', 'push', 'bust']).toContain(r.outcome);
    const reveal = await watcher.next(fromBot('dealer', 'reveal'));
    const deck = JSON.parse(reveal.body);
    expect(deck.hash).toBe(JSON.parse(shuffled.body).commitment);
    expect(new Set(deck.value).size).toBe(52);
    // The revealed deck is the one that was dealt from: cards go round-robin to players, then the dealer.
    expect(dealt.hands[0].hand[0]).toBe(deck.value[0]);
    expect(dealt.dealer_shows).toBe(deck.value[3]);

    for (const n of [alice, bob, carol]) await expectVerified(n, ch, 6);
    expectOfflineVerification(carol, ch, 'blackjack');
  });
});
