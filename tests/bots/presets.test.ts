/** Each preset played through the sandbox directly (the end-to-end games over MCP are in tests/e2e/games.test.ts). */
import { createHash } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ready } from '../../protocol/sodium.js';
import { PRESET_NAMES, loadPreset } from '../../bots/presets.js';
import { Driver, outputsOf } from './helpers.js';

beforeAll(ready);
const open: Driver[] = [];
afterEach(() => {
  for (const d of open.splice(0)) d.close();
});
const preset = async (name: string, params = {}) => {
  const d = await Driver.preset(name, params);
  open.push(d);
  return d;
};

describe('presets', () => {
  it('all load and declare whether they hide information', () => {
    expect(PRESET_NAMES.sort()).toEqual(['blackjack', 'dice', 'echo', 'guess', 'tictactoe']);
    expect(loadPreset('guess').secret).toBe(true);
    expect(loadPreset('dice').secret).toBe(false);
    expect(() => loadPreset('nope')).toThrow(/unknown preset/);
  });

  it('echo', async () => {
    const d = await preset('echo');
    expect(outputsOf(d.msg('invite:bob', 'chat', 'hello'))).toEqual([{ kind: 'echo', body: 'bob said: hello' }]);
    expect(outputsOf(d.msg('invite:bob', 'other', 'x'))).toEqual([]);
  });

  it('guess: hints lead to the number, the winner is announced and the reveal matches the commitment', async () => {
    const d = await preset('guess');
    const commitment = (outputsOf(d.log[0])[0].body as { hash: string }).hash;
    expect(outputsOf(d.msg('invite:bob', 'guess', 'banana'))[0]).toMatchObject({ kind: 'info', to: 'invite:bob' });
    let [lo, hi] = [1, 100];
    let last: ReturnType<typeof outputsOf> = [];
    for (let i = 0; i < 8; i++) {
      const g = Math.floor((lo + hi) / 2);
      last = outputsOf(d.msg('invite:bob', 'guess', String(g)));
      const hint = last[0];
      expect(hint).toMatchObject({ kind: 'hint', to: 'invite:bob' });
      if (hint.body === 'correct') break;
      if (hint.body === 'higher') lo = g + 1;
      else hi = g - 1;
    }
    expect(last[0].body).toBe('correct');
    const reveal = last.find((o) => o.kind === 'reveal')!.body as { hash: string; salt: string; value: number };
    expect(reveal.hash).toBe(commitment);
    expect(
      createHash('sha256')
        .update(JSON.stringify({ salt: reveal.salt, value: reveal.value }))
        .digest('hex'),
    ).toBe(commitment);
    expect(outputsOf(d.msg('invite:bob', 'guess', '1'))[0].kind).toBe('info');
  });

  it('tictactoe: illegal moves are rejected to the mover and a win is detected', async () => {
    const d = await preset('tictactoe');
    const x = 'owner';
    const o = 'invite:bob';
    expect(outputsOf(d.msg(x, 'move', '0'))[0]).toMatchObject({ kind: 'board', body: { board: 'X........' } });
    expect(outputsOf(d.msg(x, 'move', '1'))[0]).toMatchObject({ kind: 'illegal', body: 'It is not your turn.', to: x });
    expect(outputsOf(d.msg(o, 'move', '0'))[0]).toMatchObject({ kind: 'illegal', body: 'Cell 0 is taken.', to: o });
    expect(outputsOf(d.msg(o, 'move', '9'))[0]).toMatchObject({ kind: 'illegal', to: o });
    expect(outputsOf(d.msg('invite:carol', 'move', '5'))[0]).toMatchObject({
      kind: 'illegal',
      body: 'Two players are already playing.',
    });
    d.msg(o, 'move', '3');
    d.msg(x, 'move', '1');
    d.msg(o, 'move', '4');
    const win = outputsOf(d.msg(x, 'move', '2'));
    expect(win.map((w) => w.kind)).toEqual(['board', 'result']);
    expect(win[1].body).toMatch(/\(X\) wins/);
    expect(outputsOf(d.msg(o, 'move', '8'))[0]).toMatchObject({ kind: 'illegal' });
  });

  it('blackjack: two players, a full round, results and the deck revealed', async () => {
    const d = await preset('blackjack');
    expect(outputsOf(d.log[0])[0].kind).toBe('shuffled');
    expect(outputsOf(d.msg('owner', 'sit', ''))[0].kind).toBe('seated');
    expect(outputsOf(d.msg('invite:bob', 'sit', ''))[0].kind).toBe('seated');
    const dealt = outputsOf(d.msg('owner', 'deal', ''));
    expect(dealt[0].kind).toBe('dealt');
    let outputs = dealt;
    for (let i = 0; i < 20 && !outputs.some((o) => o.kind === 'result'); i++) {
      const turn = [...outputs].reverse().find((o) => o.kind === 'turn');
      const { player, total } = turn!.body as { player: string; total: number };
      outputs = outputsOf(d.msg(player, total < 15 ? 'hit' : 'stand', ''));
    }
    const result = outputs.find((o) => o.kind === 'result')!.body as {
      results: { outcome: string }[];
      dealer_total: number;
    };
    expect(result.results).toHaveLength(2);
    for (const r of result.results) expect(['win', 'lose', 'push', 'bust']).toContain(r.outcome);
    const reveal = outputs.find((o) => o.kind === 'reveal')!.body as { value: string[] };
    expect(new Set(reveal.value).size).toBe(52);
    expect(outputsOf(d.msg('owner', 'hit', ''))[0].body).toMatch(/over/);
  });

  it('dice: rolls are in range and malformed rolls get help', async () => {
    const d = await preset('dice');
    const roll = outputsOf(d.msg('owner', 'roll', '3d6'))[0].body as { dice: number[]; total: number };
    expect(roll.dice).toHaveLength(3);
    for (const x of roll.dice) expect(x >= 1 && x <= 6).toBe(true);
    expect(roll.total).toBe(roll.dice.reduce((a, b) => a + b, 0));
    expect(outputsOf(d.msg('owner', 'roll', '99d6'))[0]).toMatchObject({ kind: 'error', to: 'owner' });
  });
});
