/**
 * The replayers of bots/replayer.ts give exactly the outcomes of stepping the sandbox directly, inline and on the
 * replay thread alike: same outputs, state hashes, gas and errors, with members changing mid-way and failed steps
 * rolling the state back. The thread runs the compiled worker in dist/ (built by `npm install`).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ready } from '../../protocol/sodium.js';
import type { Json } from '../../protocol/canonical.js';
import { loadBot, type StepInput } from '../../bots/sandbox.js';
import { openReplayer, type StepOutcomeLite, type StepRequest } from '../../bots/replayer.js';
import { loadPreset } from '../../bots/presets.js';
import { rand } from './helpers.js';

const WORKER = fileURLToPath(new URL('../../dist/bots/replay-worker.js', import.meta.url));

beforeAll(async () => {
  await ready();
  if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing: run \`npm run build\` first`);
});

// Keeps a history, throws after changing its state on "boom", and reports the members it sees.
const FICKLE =
  `export default {
  init(ctx, params) { ctx.state = { seen: [], members: 0 }; },
  onJoin(ctx, m) { ctx.state.members = ctx.members.length; ctx.post('welcome', m.name); },
  onMessage(ctx, msg) {
    ctx.state.seen.push(msg.body);
    if (msg.body === 'boom') throw new RangeError('boom at ' + ctx.state.seen.length);
    ctx.post('echo', { body: msg.body, n: ctx.state.seen.length, r: Math.floor(ctx.random() * 1000), members: ` +
  `ctx.members.map((m) => m.slot) });
  },
};`;

/** A varied run: joins change the members mid-way, "boom" fails and must not keep its state change. */
function requests(): StepRequest[] {
  let members: Json[] = [{ slot: 'owner', id: 'o', name: 'Olga' }];
  const channel = { id: 'ch', name: 'test' };
  const out: StepRequest[] = [{ hook: 'init', arg: {}, now: 1, members, channel, random: rand('init') }];
  for (let i = 0; i < 90; i++) {
    if (i === 10 || i === 50) {
      members = [...members, { slot: `invite:${i}`, id: `m${i}`, name: `Member ${i}` }];
      out.push({
        hook: 'onJoin',
        arg: { entropy: 'e', id: `m${i}`, name: `Member ${i}`, slot: `invite:${i}` },
        now: 2 + i,
        members,
        channel,
        random: rand(`j${i}`),
      });
    }
    const body = i % 17 === 5 ? 'boom' : i % 7 === 0 ? '3d6' : `move ${i}`;
    out.push({
      hook: 'onMessage',
      arg: { author: 'a', body, from: 'invite:a', id: `e${i}`, kind: 'roll', name: 'Al', ts: 1000 + i },
      now: 2 + i,
      members,
      channel,
      random: rand(i),
    });
  }
  return out;
}

/** The reference: the sandbox stepped directly, the caller carrying the state. */
async function direct(source: string, reqs: StepRequest[]): Promise<StepOutcomeLite[]> {
  const sb = await loadBot(source, {});
  let state: Json | null = null;
  const out: StepOutcomeLite[] = [];
  for (const r of reqs) {
    const o = sb.step({ ...r, state } as StepInput);
    if (o.status === 'unverifiable') throw new Error(o.reason);
    state = o.state;
    const { state: _s, ...rest } = o;
    out.push(rest);
  }
  sb.close();
  return out;
}

async function replayed(source: string, reqs: StepRequest[], workerFile: string | null): Promise<StepOutcomeLite[]> {
  const r = openReplayer(source, {}, { workerFile });
  const out: StepOutcomeLite[] = [];
  for (const q of reqs) r.step(q, (o) => out.push(o));
  await r.idle();
  r.close();
  return out;
}

describe('replayers', () => {
  for (const [name, source] of [
    ['fickle bot', FICKLE],
    ['dice preset', loadPreset('dice').source],
  ] as const) {
    it(`${name}: inline and thread outcomes equal direct sandbox steps`, async () => {
      const reqs = requests();
      const want = await direct(source, reqs);
      expect(want.filter((o) => o.status === 'error').length).toBe(name === 'fickle bot' ? 5 : 0);
      expect(await replayed(source, reqs, null)).toEqual(want);
      expect(await replayed(source, reqs, WORKER)).toEqual(want);
    });
  }

  it('a failed step keeps the previous state hash, and the next step sees the old state', async () => {
    const reqs = requests().slice(0, 8);
    const out = await replayed(FICKLE, reqs, WORKER);
    const boom = reqs.findIndex((r) => (r.arg as { body?: string }).body === 'boom');
    expect(out[boom]).toMatchObject({
      status: 'error',
      error: 'RangeError: boom at 6',
      outputs: [{ kind: 'error', body: 'RangeError: boom at 6' }],
    });
    const hash = (o: StepOutcomeLite) => (o.status === 'unverifiable' ? undefined : o.stateHash);
    expect(hash(out[boom])).toBe(hash(out[boom - 1]));
    expect(out[boom + 1]).toMatchObject({ status: 'ok', outputs: [{ kind: 'echo', body: { n: 6 } }] });
  });

  it('idle() resolves once every outcome is in, and close() drops what is still owed', async () => {
    const reqs = requests();
    const r = openReplayer(FICKLE, {}, { workerFile: WORKER });
    let n = 0;
    for (const q of reqs) r.step(q, () => n++);
    await r.idle();
    expect(n).toBe(reqs.length);
    for (const q of reqs) r.step(q, () => n++);
    r.close();
    await r.idle();
    expect(n).toBeLessThan(2 * reqs.length);
    expect(() => r.step(reqs[0], () => n++)).toThrow(/closed/);
  });

  it('a replay thread that dies leaves its steps unverifiable, never judged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-replayer-'));
    const dying = join(dir, 'dying-worker.mjs');
    writeFileSync(dying, 'process.exit(3);\n');
    try {
      const r = openReplayer(FICKLE, {}, { workerFile: dying });
      const out: StepOutcomeLite[] = [];
      for (const q of requests().slice(0, 5)) r.step(q, (o) => out.push(o));
      await r.idle();
      expect(out).toHaveLength(5);
      for (const o of out)
        expect(o).toMatchObject({
          status: 'unverifiable',
          reason: expect.stringMatching(/replay thread stopped \(exit code 3\)/),
        });
      r.step(requests()[0], (o) => out.push(o));
      expect(out[5]).toMatchObject({ status: 'unverifiable' });
      r.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
