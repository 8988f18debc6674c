import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ready } from '../../protocol/sodium.js';
import { loadBot, sanitizeLimits, DEFAULT_LIMITS, ENGINE } from '../../bots/sandbox.js';
import type { Json } from '../../protocol/canonical.js';
import { createHash } from 'node:crypto';
import { Driver, outputsOf, rand } from './helpers.js';

beforeAll(ready);
const open: Driver[] = [];
afterEach(() => {
  for (const d of open.splice(0)) d.close();
});
const code = async (src: string) => {
  const d = await Driver.code(src);
  open.push(d);
  return d;
};

const COUNTER = `export default {
  init(ctx, params) { ctx.state = { n: params.start ?? 0 }; },
  onMessage(ctx, msg) { ctx.state.n += 1; ctx.post('count', ctx.state.n, { to: msg.from }); },
};`;

describe('sandbox', () => {
  it('records the pinned engine', () => {
    expect(ENGINE).toBe('quickjs-emscripten@0.32.0/release-sync');
  });

  it('runs hooks, carries state between steps and hashes it canonically', async () => {
    const d = await code(COUNTER);
    expect(d.step('init', { start: 5 })).toMatchObject({ status: 'ok', outputs: [], state: { n: 5 } });
    const out = d.msg('invite:bob', 'chat', 'hi');
    expect(out).toMatchObject({
      status: 'ok',
      outputs: [{ kind: 'count', body: 6, to: 'invite:bob' }],
      state: { n: 6 },
    });
    if (out.status === 'unverifiable') throw new Error('unexpected');
    expect(out.stateHash).toBe(createHash('sha256').update('{"n":6}').digest('hex'));
  });

  it('a missing hook is a no-op step', async () => {
    const d = await code('export default { init(ctx) { ctx.state = 1; } }');
    d.step('init', {});
    expect(d.step('onJoin', { slot: 'invite:x' })).toMatchObject({ status: 'ok', outputs: [], state: 1 });
  });

  it('ctx.random and Math.random follow the step seed', async () => {
    const src = `export default { onMessage(ctx) { ctx.post('r', [ctx.random(), Math.random(), ctx.random()]); } }`;
    const [a, b] = [await code(src), await code(src)];
    const ra = outputsOf(a.msg('x', 'k', null))[0].body as number[];
    const rb = outputsOf(b.msg('x', 'k', null))[0].body as number[];
    expect(ra).toEqual(rb);
    expect(new Set(ra).size).toBe(3);
    expect(outputsOf(a.msg('x', 'k', null))[0].body).not.toEqual(ra);
  });

  it('commit stores a salted value in state and reveal posts it', async () => {
    const d = await code(`export default {
      init(ctx) { ctx.state = {}; ctx.state.h = ctx.commit({ secret: 42 }); ctx.post('c', ctx.state.h); },
      onMessage(ctx) { ctx.reveal(ctx.state.h); },
    }`);
    const init = d.step('init', {});
    const hash = outputsOf(init)[0].body as string;
    const revealed = outputsOf(d.msg('x', 'k', null))[0];
    expect(revealed.kind).toBe('reveal');
    const body = revealed.body as { hash: string; salt: string; value: unknown };
    expect(body.hash).toBe(hash);
    expect(
      createHash('sha256')
        .update(JSON.stringify({ salt: body.salt, value: body.value }))
        .digest('hex'),
    ).toBe(hash);
    expect(body.value).toEqual({ secret: 42 });
  });

  it('untrusted manifest limits are clamped', () => {
    expect(sanitizeLimits({ memoryBytes: 1e12, gas: -1, wallMs: 'x' })).toEqual({
      ...DEFAULT_LIMITS,
      memoryBytes: 128 * 1024 * 1024,
    });
    expect(sanitizeLimits(null)).toEqual(DEFAULT_LIMITS);
  });

  it('a bot that does not export a default object fails every step with the same notice', async () => {
    const d = await code('const x = 1;');
    const a = d.step('init', {});
    expect(a).toMatchObject({
      status: 'error',
      error: expect.stringMatching(/^bot failed to load: TypeError: the bot must `export default/),
    });
    expect(d.step('onMessage', {})).toMatchObject({ status: 'error', error: (a as { error: string }).error });
  });

  it(
    'ctx.members and ctx.channel are read-only and each step sees the current ones, also after a failed ' + 'step',
    async () => {
      const bot = await loadBot(`export default {
      onMessage(ctx, msg) {
        if (msg.kind === 'mutate') ctx.members.push({ slot: 'evil' });
        if (msg.kind === 'rename') ctx.channel.name = 'evil';
        if (msg.kind === 'boom') throw new Error('boom');
        ctx.post('seen', { slots: ctx.members.map((m) => m.slot), name: ctx.channel.name });
      },
    }`);
      const alice = [{ slot: 'owner', id: 'o', name: 'Owner' }];
      const both = [...alice, { slot: 'invite:a', id: 'a', name: 'A' }];
      const channel = { id: 'c', name: 'one' };
      let n = 0;
      const step = (kind: string, members: Json, ch: Json = channel) =>
        bot.step({ hook: 'onMessage', arg: { kind }, state: null, now: n, members, channel: ch, random: rand(n++) });
      try {
        expect(step('look', alice)).toMatchObject({
          status: 'ok',
          outputs: [{ body: { slots: ['owner'], name: 'one' } }],
        });
        expect(step('mutate', alice)).toMatchObject({ status: 'error', error: expect.stringMatching(/^TypeError/) });
        expect(step('rename', alice)).toMatchObject({ status: 'error', error: expect.stringMatching(/^TypeError/) });
        expect(step('look', [...alice])).toMatchObject({ outputs: [{ body: { slots: ['owner'], name: 'one' } }] });
        expect(step('boom', both, { id: 'c', name: 'two' })).toMatchObject({ status: 'error' });
        expect(step('look', both, { id: 'c', name: 'two' })).toMatchObject({
          outputs: [{ body: { slots: ['owner', 'invite:a'], name: 'two' } }],
        });
        expect(step('look', alice)).toMatchObject({ outputs: [{ body: { slots: ['owner'], name: 'one' } }] });
      } finally {
        bot.close();
      }
    },
  );
});
