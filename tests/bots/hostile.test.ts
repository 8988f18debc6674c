/**
 * Hostile bots: each is contained with a deterministic outcome (the same on a second, fresh sandbox) and the
 * sandbox keeps working for the next step.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ready } from '../../protocol/sodium.js';
import type { StepOutcome } from '../../bots/sandbox.js';
import { Driver, outputsOf } from './helpers.js';

beforeAll(ready);
const open: Driver[] = [];
afterEach(() => {
  for (const d of open.splice(0)) d.close();
});

/** A bot whose onMessage runs `body` when msg.kind === 'attack' and answers 'ok' otherwise. */
const bot = (body: string, extra = '') => `${extra}
export default {
  init(ctx) { ctx.state = { steps: 0 }; },
  onMessage(ctx, msg) {
    ctx.state.steps += 1;
    if (msg.kind === 'attack') { ${body} }
    ctx.post('ok', ctx.state.steps);
  },
};`;

async function run(src: string): Promise<{ attack: StepOutcome; after: StepOutcome }> {
  const d = await Driver.code(src);
  open.push(d);
  d.step('init', {});
  const attack = d.msg('invite:mallory', 'attack', null);
  const after = d.msg('invite:bob', 'chat', 'still there?');
  return { attack, after };
}

/**
 * Runs twice in fresh sandboxes: the outcome must be identical (gas included), the failed step rolled back and the bot
 * still usable.
 */
async function contained(src: string): Promise<StepOutcome> {
  const first = await run(src);
  const second = await run(src);
  expect(second.attack).toEqual(first.attack);
  // A failed step is rolled back, so the next step counts from the state before it.
  const steps = first.attack.status === 'error' ? 1 : 2;
  expect(first.after).toMatchObject({ status: 'ok', outputs: [{ kind: 'ok', body: steps }] });
  return first.attack;
}

const cases: [string, string, RegExp][] = [
  ['infinite loop', 'while (true) {}', /^out of gas/],
  [
    'memory bomb',
    'let s = "x"; const keep = []; while (true) { s = s + s; keep.push(s); }',
    /out of memory|string too long|out of gas/,
  ],
  [
    'array memory bomb',
    'const a = []; while (true) a.push(new Array(100000).fill(a.length));',
    /out of memory|out of gas/,
  ],
  ['deep recursion', 'const f = (n) => f(n + 1) + 1; f(0);', /stack|too much recursion/i],
  ['2 MB output', 'ctx.post("big", "x".repeat(2 * 1024 * 1024));', /outputs exceed/],
  ['10 MB string (charged 1 gas per 16 KiB)', 'ctx.post("big", "x".repeat(10 * 1024 * 1024));', /^out of gas/],
  [
    "a loop bounded only by an object's length",
    'Array.prototype.indexOf.call({ length: 2 ** 53 - 1 }, 1);',
    /^out of gas/,
  ],
  ['a huge sparse array joined', 'new Array(2 ** 32 - 1).join("");', /^out of gas/],
  ['throw', 'throw new Error("boom")', /^Error: boom$/],
  ['throw a non-error', 'throw 42', /42/],
  ['cyclic state', 'const o = {}; o.self = o; ctx.state.cycle = o;', /circular|cyclic/i],
  ['BigInt state', 'ctx.state.big = 10n;', /BigInt/i],
  ['Function constructor', 'ctx.post("x", Function("return 1")())', /code generation is disabled/],
  [
    'constructor of a function',
    'ctx.post("x", (() => 1).constructor("return globalThis")())',
    /code generation is disabled/,
  ],
  ['async function constructor', '(async () => {}).constructor("return 1")', /code generation is disabled/],
  ['Date', 'ctx.post("now", new Date().getTime())', /'?Date'? is not defined/],
  ['eval', 'ctx.post("x", eval("1 + 1"))', /'?eval'? is not defined/],
  ['host process object', 'ctx.post("x", process.env)', /'?process'? is not defined/],
  ['require', 'ctx.post("x", require("fs"))', /'?require'? is not defined/],
];

describe('hostile bots are contained deterministically', () => {
  it.each(cases)('%s', async (_name, body, error) => {
    const outcome = await contained(bot(body));
    expect(outcome.status).toBe('error');
    if (outcome.status !== 'error') return;
    expect(outcome.error).toMatch(error);
    expect(outcome.outputs).toEqual([{ kind: 'error', body: outcome.error }]);
    expect(outcome.state).toEqual({ steps: 0 });
  });

  it('throwing in each hook is a recorded error outcome', async () => {
    const d = await Driver.code(`export default {
      init() { throw new Error('init failed'); },
      onJoin() { throw new TypeError('join failed'); },
      onMessage() { throw new RangeError('message failed'); },
    }`);
    open.push(d);
    expect(d.step('init', {})).toMatchObject({ status: 'error', error: 'Error: init failed', state: null });
    expect(d.step('onJoin', {})).toMatchObject({ status: 'error', error: 'TypeError: join failed' });
    expect(d.step('onMessage', {})).toMatchObject({ status: 'error', error: 'RangeError: message failed' });
  });

  it('functions in state are dropped the same way everywhere', async () => {
    const outcome = await contained(bot('ctx.state.f = () => 1;'));
    expect(outcome).toMatchObject({ status: 'ok', state: { steps: 1 } });
  });

  it('Math.random cannot be replaced and globalThis tricks reach nothing of the host', async () => {
    const d = await Driver.code(
      `export default {
      onMessage(ctx) {
        let replaced;
        try { Math.random = () => 0.5; replaced = Math.random() === 0.5; } catch (e) { replaced = String(e); }
        const host = ['process', 'require', 'module', 'Buffer', 'WebAssembly', 'setTimeout', 'setInterval', 'console',
          'std', 'os', 'performance', 'fetch'];
        const names = Object.getOwnPropertyNames(globalThis).filter((n) => host.includes(n));
        ctx.post('probe', { replaced, names, date: typeof Date, evalType: typeof eval, timers: typeof setTimeout });
      },
    }`,
    );
    open.push(d);
    const out = outputsOf(d.msg('x', 'k', null))[0].body as Record<string, unknown>;
    expect(out.replaced === false || String(out.replaced).includes('read-only')).toBe(true);
    expect(out).toMatchObject({ names: [], date: 'undefined', evalType: 'undefined', timers: 'undefined' });
  });

  it('a bot cannot raise its own output limit (the host configures it once, before the bot loads)', async () => {
    const d = await Driver.code(`const configure = typeof globalThis.__parley_configure;
export default {
  onMessage(ctx) {
    try { globalThis.__parley_configure(1e9); } catch (e) {}
    ctx.post('probe', { configure, now: typeof globalThis.__parley_configure });
    ctx.post('big', 'x'.repeat(100 * 1024));
  },
};`);
    open.push(d);
    expect(d.msg('x', 'k', null)).toMatchObject({
      status: 'error',
      error: expect.stringMatching(/outputs exceed 65536 bytes/),
    });
    const probe = await Driver.code(
      `export default { onMessage(ctx) { ctx.post('probe', typeof globalThis.__parley_configure); } };`,
    );
    open.push(probe);
    expect(outputsOf(probe.msg('x', 'k', null))[0].body).toBe('undefined');
  });

  it('a top-level infinite loop fails the load, not the host', async () => {
    const d = await Driver.code('while (true) {}\nexport default {};');
    open.push(d);
    expect(d.step('init', {})).toMatchObject({
      status: 'error',
      error: expect.stringMatching(/bot failed to load: out of gas/),
    });
  });
});
