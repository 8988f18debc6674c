/**
 * Metering (issue 14): a bot's host calls are charged gas by the bytes they process, the wall-clock backstop fires
 * across host calls, and the memory limit bounds real bytes. Every stop lands at the same step with the same
 * outcome (gas included) in a second, fresh sandbox, as it must on the runner and on every verifier.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ready } from '../../protocol/sodium.js';
import { DEFAULT_LIMITS, WASM_BASE_BYTES, type StepOutcome } from '../../bots/sandbox.js';
import { Driver } from './helpers.js';
import { BIG_STRINGS, HASHER, SMALL_OBJECTS } from './hoarders.js';

beforeAll(ready);
const open: Driver[] = [];
afterEach(() => {
  for (const d of open.splice(0)) d.close();
});

/** The most WebAssembly memory any sandbox of the last runSteps reached. */
let peakMemory = 0;

async function runSteps(src: string, kinds: string[], limits?: unknown): Promise<StepOutcome[]> {
  const d = await Driver.code(src, limits);
  open.push(d);
  d.step('init', {});
  peakMemory = 0;
  return kinds.map((k) => {
    const o = d.msg('invite:mallory', k, null);
    peakMemory = Math.max(peakMemory, d.bot.memoryBytes());
    return o;
  });
}

const brief = (o: StepOutcome) =>
  o.status === 'unverifiable' ? o : { status: o.status, error: o.error, gas: o.gas, outputs: o.outputs };

describe('host calls are metered', () => {
  it(
    'hashing 8 MB 50 times through ctx.commit runs out of gas, identically in a fresh sandbox, and ' +
      'the bot goes on',
    async () => {
      const first = await runSteps(HASHER, ['attack', 'chat']);
      const second = await runSteps(HASHER, ['attack', 'chat']);
      expect(first[0]).toMatchObject({ status: 'error', error: expect.stringMatching(/^out of gas/) });
      expect(brief(second[0])).toEqual(brief(first[0]));
      expect(first[1]).toMatchObject({ status: 'ok', outputs: [{ kind: 'ok', body: 1 }] });
    },
  );

  it('catching the out-of-gas error inside the bot does not save the step', async () => {
    const src = `export default {
      onMessage(ctx) {
        const big = 'x'.repeat(4 * 1024 * 1024);
        let caught = 0;
        for (let i = 0; i < 100; i++) { try { ctx.commit(big + i); } catch (e) { caught++; } }
        ctx.post('survived', caught);
      },
    };`;
    const [attack] = await runSteps(src, ['attack']);
    expect(attack).toMatchObject({ status: 'error', error: expect.stringMatching(/^out of gas/) });
  });

  it('the wall-clock backstop fires across host calls: a step stuck in hashing is unverifiable here', async () => {
    // The most gas a manifest may grant, a short backstop: 200 hashes of 8 MB take seconds, and a loop this short never
    // reaches QuickJS's interrupt handler on its own.
    const src = HASHER.replace('i < 50', 'i < 200');
    const [attack] = await runSteps(src, ['attack'], { gas: 20_000, wallMs: 200 });
    expect(attack).toMatchObject({ status: 'unverifiable', reason: expect.stringMatching(/backstop/) });
  });
});

describe('the memory limit bounds real bytes', () => {
  const firstFailure = (outcomes: StepOutcome[]) => outcomes.findIndex((o) => o.status === 'error');

  it(
    'a bot keeping 30 MB strings fails with out of memory within the limit, at the same step in ' + 'a fresh sandbox',
    async () => {
      const steps = ['a', 'b', 'c', 'd', 'e', 'f'];
      // Making a 30 MB string is charged ~1,800 gas (1 per 16 KiB): the most gas a manifest may grant.
      const first = await runSteps(BIG_STRINGS, steps, { gas: 20_000 });
      const second = await runSteps(BIG_STRINGS, steps, { gas: 20_000 });
      expect(first.map(brief)).toEqual(second.map(brief));
      const at = firstFailure(first);
      // Default limit 32 MiB: the first 30 MB string fits, the second does not.
      expect(at).toBe(1);
      expect(first[at]).toMatchObject({ status: 'error', error: 'InternalError: out of memory' });
      expect(first[0]).toMatchObject({ status: 'ok', outputs: [{ kind: 'kept', body: 1 }] });
      expect(peakMemory).toBeLessThanOrEqual(WASM_BASE_BYTES + DEFAULT_LIMITS.memoryBytes);
    },
  );

  it(
    'a larger memory limit (a manifest may ask up to 128 MiB) holds more, and still fails at one ' + 'step everywhere',
    async () => {
      const steps = ['a', 'b', 'c', 'd', 'e', 'f'];
      const limits = { memoryBytes: 96 * 1024 * 1024, gas: 20_000 };
      const first = await runSteps(BIG_STRINGS, steps, limits);
      expect(peakMemory).toBeLessThanOrEqual(WASM_BASE_BYTES + limits.memoryBytes);
      const second = await runSteps(BIG_STRINGS, steps, limits);
      expect(first.map(brief)).toEqual(second.map(brief));
      expect(firstFailure(first)).toBe(3);
    },
  );

  it(
    'a bot keeping millions of small objects fails with out of memory within the limit, at the same step in ' +
      'a fresh sandbox',
    async () => {
      const steps = Array.from({ length: 10 }, (_, i) => `s${i}`);
      const limits = { gas: 20_000 };
      const first = await runSteps(SMALL_OBJECTS, steps, limits);
      const second = await runSteps(SMALL_OBJECTS, steps, limits);
      expect(first.map(brief)).toEqual(second.map(brief));
      const at = firstFailure(first);
      // 250,000 small objects take well over 10 MB; the default 32 MiB cannot hold a million of them.
      expect(at).toBeGreaterThan(0);
      expect(at).toBeLessThan(4);
      expect(first[at]).toMatchObject({ status: 'error', error: 'InternalError: out of memory' });
      expect(peakMemory).toBeLessThanOrEqual(WASM_BASE_BYTES + DEFAULT_LIMITS.memoryBytes);
    },
  );
});
