/**
 * Determinism known-answer test: a fixed bot, seeds and inputs give exactly the committed outputs and state hashes.
 * Regenerate the fixture deliberately (an engine or prelude change is a protocol change): UPDATE_FIXTURES=1.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ready } from '../../protocol/sodium.js';
import { ENGINE_ID, loadBot } from '../../bots/sandbox.js';
import { loadPreset } from '../../bots/presets.js';
import { entropyStart, mixEntropy, seedCommitment, stepRandom } from '../../bots/seed.js';
import { canonicalString, type Json } from '../../protocol/canonical.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/determinism.json', import.meta.url));

const MIXER = `export default {
  init(ctx, params) {
    ctx.state = { seen: [], floats: [], label: params.label };
    ctx.state.c = ctx.commit({ pick: Math.floor(ctx.random() * 1000) });
    ctx.post('hello', { members: ctx.members, channel: ctx.channel, now: ctx.now });
  },
  onJoin(ctx, m) { ctx.state.seen.push(m.slot); ctx.post('welcome', m.name, { to: m.slot }); },
  onMessage(ctx, msg) {
    const x = ctx.random();
    ctx.state.floats.push(x, x * 1e21, 1 / 3, -0, 0.1 + 0.2);
    if (msg.kind === 'reveal') ctx.reveal(ctx.state.c);
    if (msg.kind === 'boom') throw new Error('boom ' + msg.body);
    ctx.post('echo', { body: msg.body, sorted: Object.keys({ b: 1, a: 2, c: 3 }).sort(), r: x });
  },
};`;

/** The input script: hook, arg and the join entropy that feeds the accumulator. */
const SEED = '5eed'.repeat(16);
const CHANNEL = 'AAAAAAAAAAAAAAAAAAAAAA';
const inputs: { hook: 'init' | 'onJoin' | 'onMessage'; arg: Json }[] = [
  { hook: 'init', arg: { label: 'kat' } },
  { hook: 'onJoin', arg: { slot: 'invite:bob', id: 'B'.repeat(43), name: 'Bob', entropy: '11'.repeat(32) } },
  { hook: 'onMessage', arg: { id: 'm1', from: 'invite:bob', name: 'Bob', kind: 'chat', body: 'hi', ts: 1 } },
  { hook: 'onJoin', arg: { slot: 'invite:eve', id: 'E'.repeat(43), name: 'Eve', entropy: '22'.repeat(32) } },
  { hook: 'onMessage', arg: { id: 'm2', from: 'invite:eve', name: 'Eve', kind: 'boom', body: 'x', ts: 2 } },
  { hook: 'onMessage', arg: { id: 'm3', from: 'owner', name: 'Owner', kind: 'chat', body: 'état ✓', ts: 3 } },
  { hook: 'onMessage', arg: { id: 'm4', from: 'owner', name: 'Owner', kind: 'reveal', body: '', ts: 4 } },
];

async function replay(source: string): Promise<Json[]> {
  const bot = await loadBot(source);
  let acc = entropyStart(CHANNEL);
  let state: Json | null = null;
  const members: Json[] = [{ slot: 'owner', id: 'O'.repeat(43), name: 'Owner' }];
  const steps: Json[] = [];
  inputs.forEach((input, i) => {
    if (input.hook === 'onJoin') {
      const a = input.arg as Record<string, string>;
      acc = mixEntropy(acc, a.entropy);
      members.push({ slot: a.slot, id: a.id, name: a.name });
    }
    const n = i + 1;
    const out = bot.step({
      ...input,
      state,
      now: 1_700_000_000_000 + n,
      members: [...members],
      channel: { id: CHANNEL, name: 'kat' },
      random: stepRandom(SEED, acc, n),
    });
    if (out.status === 'unverifiable') throw new Error('unverifiable');
    state = out.state;
    steps.push({
      n,
      status: out.status,
      outputs: out.outputs as unknown as Json,
      stateHash: out.stateHash,
      gas: out.gas,
    });
  });
  bot.close();
  return steps;
}

beforeAll(ready);

describe('determinism known-answer', () => {
  it('seed helpers give fixed values', () => {
    expect(seedCommitment(SEED)).toMatch(/^[0-9a-f]{64}$/);
    expect(stepRandom(SEED, entropyStart(CHANNEL), 1)).not.toBe(stepRandom(SEED, entropyStart(CHANNEL), 2));
  });

  it('a fixed bot, seed and inputs replay to the committed fixture, twice', async () => {
    const actual = {
      // The engine id covers the QuickJS build, the prelude and the gas and memory rules: a change of any of them
      // must come with a deliberately regenerated fixture (and is a protocol change: docs/bots.md).
      engine: ENGINE_ID,
      commitment: seedCommitment(SEED),
      mixer: await replay(MIXER),
      dice: await replay(loadPreset('dice').source.replace("msg.kind !== 'roll'", "msg.kind === 'boom'")),
    };
    if (process.env.UPDATE_FIXTURES === '1') {
      mkdirSync(dirname(FIXTURE), { recursive: true });
      writeFileSync(FIXTURE, JSON.stringify(actual, null, 1) + '\n');
    }
    expect(
      existsSync(FIXTURE),
      'the committed fixture is missing; generate it deliberately with UPDATE_FIXTURES=1',
    ).toBe(true);
    const expected = JSON.parse(readFileSync(FIXTURE, 'utf8'));
    expect(canonicalString(actual)).toBe(canonicalString(expected));
    const again = await replay(MIXER);
    expect(canonicalString(again)).toBe(canonicalString(actual.mixer));
  });
});
