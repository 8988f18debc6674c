/**
 * Guest-side prelude, evaluated in each bot context before the bot's own code. It removes nondeterministic and
 * eval-like globals, pins Math.random to the step's seeded PRNG, and defines the step entry point the host calls
 * with JSON texts and numbers and gets one JSON string back (no host object ever reaches the guest).
 *
 * QuickJS's JSON and closures are slow next to V8's, so per step the guest parses only what changes: members and
 * channel arrive only when they differ from the previous step's (and are frozen, so a bot cannot alter what the
 * next step sees), the PRNG arrives as its ready state, and ctx's functions are made once. The input is the text
 * `[argument, state]` (the host keeps the state as the text this guest wrote, never re-encoding it), and the hook
 * (as an index into HOOKS), `now` and the PRNG's four words come as numbers: QuickJS's JSON.parse reads numbers
 * slowly, and these cost more than the rest of a small step's input.
 */
export const PRELUDE = String.raw`
(() => {
  'use strict';
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const freeze = Object.freeze;
  const isFrozen = Object.isFrozen;
  const keys = Object.keys;
  const hash = globalThis.__parley_hash;
  delete globalThis.__parley_hash;
  delete globalThis.eval;
  const blocked = function () { throw new TypeError('code generation is disabled in bots'); };
  for (const proto of [Function.prototype, Object.getPrototypeOf(function* () {}), Object.getPrototypeOf(async function () {}), Object.getPrototypeOf(async function* () {})]) {
    Object.defineProperty(proto, 'constructor', { value: blocked, writable: false, configurable: false });
  }
  Object.defineProperty(globalThis, 'Function', { value: blocked, writable: false, configurable: false });

  // sfc32; the host seeds it from the step's random (bots/seed.ts prngState): small, fast, identical on every engine.
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
  Object.defineProperty(Math, 'random', { value: function random() { return next(); }, writable: false, configurable: false });

  const HOOKS = ['init', 'onJoin', 'onMessage'];
  let bot = null;
  Object.defineProperty(globalThis, '__parley_set_bot', {
    value: (b) => { bot = b; },
    writable: false, configurable: false,
  });

  const deepFreeze = (v) => {
    if (v !== null && typeof v === 'object' && !isFrozen(v)) {
      freeze(v);
      for (const k of keys(v)) deepFreeze(v[k]);
    }
    return v;
  };

  let maxOutputBytes = 0;
  let maxStateBytes = 0;
  let members = freeze([]);
  let channel = freeze({});
  // The step being run: its ctx and outputs. Outputs are kept as the JSON text they were checked as, and joined at
  // the end (no re-parse, same bytes).
  let ctx = null;
  let outputs = [];
  let outBytes = 0;

  const hex = (n) => { let s = ''; for (let i = 0; i < n; i++) s += Math.floor(next() * 256).toString(16).padStart(2, '0'); return s; };
  const post = (kind, body, opts) => {
    if (typeof kind !== 'string' || kind.length === 0 || kind.length > 64) throw new TypeError('ctx.post: kind must be a string of 1-64 characters');
    const out = { kind, body: body === undefined ? null : body };
    if (opts && opts.to !== undefined) {
      if (typeof opts.to !== 'string') throw new TypeError('ctx.post: to must be a slot string');
      out.to = opts.to;
    }
    const text = stringify(out);
    if (text === undefined) throw new TypeError('ctx.post: body must be JSON');
    outBytes += text.length;
    if (outBytes > maxOutputBytes) throw new RangeError('outputs exceed ' + maxOutputBytes + ' bytes');
    outputs.push(text);
  };
  // Set when the host refused a call for lack of gas (or time): later calls this step fail before doing any work,
  // so a bot that catches the refusal cannot keep the engine serialising big values until the next interrupt poll.
  let spent = false;
  const commit = (value) => {
    if (spent) throw new RangeError('out of gas');
    if (ctx.state === null || typeof ctx.state !== 'object') ctx.state = {};
    const salt = hex(16);
    const text = stringify({ salt, value });
    if (text === undefined) throw new TypeError('ctx.commit: value must be JSON');
    let h;
    try { h = hash(text); } catch (e) { spent = true; throw e; }
    if (!ctx.state.__commits) ctx.state.__commits = {};
    ctx.state.__commits[h] = { salt, value };
    return h;
  };
  const reveal = (h) => {
    const c = ctx.state && ctx.state.__commits && ctx.state.__commits[h];
    if (!c) throw new RangeError('ctx.reveal: unknown commitment');
    post('reveal', { hash: h, salt: c.salt, value: c.value });
  };
  const random = next;
  freeze(next); freeze(post); freeze(commit); freeze(reveal);

  // Called once by the host before the bot loads, then gone: a bot must not raise its own output limit.
  Object.defineProperty(globalThis, '__parley_configure', {
    writable: false, configurable: true,
    value: (outputLimit, stateLimit) => { maxOutputBytes = outputLimit; maxStateBytes = stateLimit; delete globalThis.__parley_configure; },
  });

  Object.defineProperty(globalThis, '__parley_step', {
    writable: false, configurable: false,
    value: (inputJson, extraJson, hook, now, s0, s1, s2, s3) => {
      const input = parse(inputJson);
      if (extraJson !== '') {
        const extra = parse(extraJson);
        if (extra.members !== undefined) members = deepFreeze(extra.members);
        if (extra.channel !== undefined) channel = deepFreeze(extra.channel);
      }
      a = s0; b = s1; c = s2; d = s3;
      outputs = [];
      outBytes = 0;
      spent = false;
      ctx = { state: input[1], now, members, channel, random, post, commit, reveal };
      const name = HOOKS[hook];
      if (bot && typeof bot[name] === 'function') bot[name](ctx, input[0]);
      const state = stringify(ctx.state === undefined ? null : ctx.state);
      // Checked here, before the host copies the text out: the host's own check (on canonical JSON) comes after.
      if (state !== undefined && state.length > maxStateBytes) throw new RangeError('state exceeds ' + maxStateBytes + ' bytes');
      return '[' + outputs.join(',') + ']\n' + (state === undefined ? 'null' : state);
    },
  });
})();
`;
