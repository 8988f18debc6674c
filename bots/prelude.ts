/**
 * Guest-side prelude, evaluated in each bot context before the bot's own code. It removes nondeterministic and
 * eval-like globals, pins Math.random to the step's seeded PRNG, and defines the step entry point the host calls
 * with one JSON string and gets one JSON string back (no host object ever reaches the guest).
 */
export const PRELUDE = String.raw`
(() => {
  'use strict';
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const hash = globalThis.__parley_hash;
  delete globalThis.__parley_hash;
  delete globalThis.eval;
  const blocked = function () { throw new TypeError('code generation is disabled in bots'); };
  for (const proto of [Function.prototype, Object.getPrototypeOf(function* () {}), Object.getPrototypeOf(async function () {}), Object.getPrototypeOf(async function* () {})]) {
    Object.defineProperty(proto, 'constructor', { value: blocked, writable: false, configurable: false });
  }
  Object.defineProperty(globalThis, 'Function', { value: blocked, writable: false, configurable: false });

  // sfc32, seeded from the step's 128 leading bits: small, fast, and identical on every engine.
  let a = 0, b = 0, c = 0, d = 0;
  const next = () => {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  const seed = (hex) => {
    a = parseInt(hex.slice(0, 8), 16); b = parseInt(hex.slice(8, 16), 16);
    c = parseInt(hex.slice(16, 24), 16); d = parseInt(hex.slice(24, 32), 16);
    for (let i = 0; i < 12; i++) next();
  };
  // Seeded on first use within a step: most steps draw nothing, and the sequence is the same either way.
  let pendingSeed = null;
  const draw = () => {
    if (pendingSeed !== null) { seed(pendingSeed); pendingSeed = null; }
    return next();
  };
  Object.defineProperty(Math, 'random', { value: function random() { return draw(); }, writable: false, configurable: false });

  let bot = null;
  Object.defineProperty(globalThis, '__parley_set_bot', {
    value: (b) => { bot = b; },
    writable: false, configurable: false,
  });

  const hex = (n) => { let s = ''; for (let i = 0; i < n; i++) s += Math.floor(draw() * 256).toString(16).padStart(2, '0'); return s; };

  Object.defineProperty(globalThis, '__parley_step', {
    writable: false, configurable: false,
    value: (inputJson) => {
      const input = parse(inputJson);
      pendingSeed = input.random;
      // Outputs are kept as the JSON text they were checked as, and joined at the end (no re-parse, same bytes).
      const outputs = [];
      let outBytes = 0;
      const ctx = {
        state: input.state,
        now: input.now,
        members: input.members,
        channel: input.channel,
        random: () => draw(),
        post(kind, body, opts) {
          if (typeof kind !== 'string' || kind.length === 0 || kind.length > 64) throw new TypeError('ctx.post: kind must be a string of 1-64 characters');
          const out = { kind, body: body === undefined ? null : body };
          if (opts && opts.to !== undefined) {
            if (typeof opts.to !== 'string') throw new TypeError('ctx.post: to must be a slot string');
            out.to = opts.to;
          }
          const text = stringify(out);
          if (text === undefined) throw new TypeError('ctx.post: body must be JSON');
          outBytes += text.length;
          if (outBytes > input.maxOutputBytes) throw new RangeError('outputs exceed ' + input.maxOutputBytes + ' bytes');
          outputs.push(text);
        },
        commit(value) {
          if (ctx.state === null || typeof ctx.state !== 'object') ctx.state = {};
          const salt = hex(16);
          const text = stringify({ salt, value });
          if (text === undefined) throw new TypeError('ctx.commit: value must be JSON');
          const h = hash(text);
          if (!ctx.state.__commits) ctx.state.__commits = {};
          ctx.state.__commits[h] = { salt, value };
          return h;
        },
        reveal(h) {
          const c = ctx.state && ctx.state.__commits && ctx.state.__commits[h];
          if (!c) throw new RangeError('ctx.reveal: unknown commitment');
          ctx.post('reveal', { hash: h, salt: c.salt, value: c.value });
        },
      };
      const fn = bot && bot[input.hook];
      if (typeof fn === 'function') fn.call(bot, ctx, input.arg);
      const state = stringify(ctx.state === undefined ? null : ctx.state);
      return '{"outputs":[' + outputs.join(',') + ']}\n' + (state === undefined ? 'null' : state);
    },
  });
})();
`;
