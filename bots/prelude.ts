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
 *
 * Its bytes are hashed into ENGINE_ID (bots/sandbox.ts): a long line is split with `+`, which keeps the text exactly
 * as it was, never rewrapped.
 */
export const PRELUDE =
  `
(() => {
  'use strict';
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const freeze = Object.freeze;
  const isFrozen = Object.isFrozen;
  const keys = Object.keys;
  const hash = globalThis.__parley_hash;
  const meterHost = globalThis.__parley_meter;
  delete globalThis.__parley_hash;
  delete globalThis.__parley_meter;
  delete globalThis.eval;
  const blocked = function () { throw new TypeError('code generation is disabled in bots'); };
  for (const proto of [Function.prototype, Object.getPrototypeOf(function* () {}), Object.getPrototypeOf(async ` +
  `function () {}), Object.getPrototypeOf(async function* () {})]) {
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
  Object.defineProperty(Math, 'random', { value: function random() { return next(); }, writable: false, ` +
  `configurable: false });

  // Set when the host refused a call for lack of gas (or time): later metered calls this step fail before doing any
  // work, so a bot that catches the refusal cannot keep the engine busy until the next interrupt poll.
  let spent = false;

  // Built-ins whose native loops run as long as their input is (a string's or array's length, or any object's
  // 'length', which costs nothing to make huge) are charged by that length, like host calls: QuickJS polls its
  // interrupt handler only between operations, so one call could otherwise run for seconds or forever uncharged.
  // Calls under METER_FREE units are free (QuickJS's own rhythm bounds them); larger ones ask the host to charge
  // floor(units / 16384) gas before (or, where the size is only known then, after) the work.
  const METER_FREE = 16384;
  const apply = Reflect.apply;
  const defineProperty = Object.defineProperty;
  const getPrototypeOf = Object.getPrototypeOf;
  const isFiniteNumber = Number.isFinite;
  const meter = (n) => {
    if (n >= METER_FREE) {
      try { meterHost(n); } catch (e) { spent = true; throw e; }
    }
  };
  const lengthOf = (v) => {
    if (v === null || v === undefined) return 0;
    const n = typeof v === 'string' ? v.length : +v.length;
    return n > 0 ? (isFiniteNumber(n) ? n : 9007199254740991) : 0;
  };
  const sizeOf = (r) => (typeof r === 'string' || Array.isArray(r) ? r.length : 0);
  const wrap = (obj, name, before, after) => {
    const orig = obj[name];
    if (typeof orig !== 'function') return;
    const w = { [name](...args) {
      if (spent) throw new RangeError('out of gas');
      if (before) meter(before(this, args));
      const r = apply(orig, this, args);
      if (after) meter(after(r));
      return r;
    } }[name];
    defineProperty(w, 'length', { value: orig.length });
    defineProperty(obj, name, { value: w, writable: true, configurable: true, enumerable: false });
  };
  const byThis = (t) => lengthOf(t);
  const byThisAndArgs = (t, args) => { let n = lengthOf(t); for (const a of args) n += typeof a === 'string' ? ` +
  `a.length : 0; return n; };
  const byResult = sizeOf;
  const ArrayProto = Array.prototype;
  for (const name of ['indexOf', 'lastIndexOf', 'includes', 'join', 'toString', 'toLocaleString', 'reverse', ` +
  `'fill', 'sort', 'copyWithin', 'slice', 'splice', 'flat', 'flatMap', 'map', 'filter', 'forEach', ` +
  `'reduce', 'reduceRight', 'some', 'every', 'find', 'findIndex', 'findLast', 'findLastIndex', 'shift', ` +
  `'unshift', 'toReversed', 'toSorted', 'toSpliced', 'with']) {
    wrap(ArrayProto, name, byThis, name === 'join' || name === 'toString' || name === 'toLocaleString' ? ` +
  `byResult : null);
  }
  wrap(ArrayProto, 'concat', byThis, byResult);
  wrap(Array, 'from', (t, args) => lengthOf(args[0]), byResult);
  const TypedProto = getPrototypeOf(Uint8Array.prototype);
  for (const name of ['indexOf', 'lastIndexOf', 'includes', 'join', 'reverse', 'fill', 'sort', 'copyWithin', ` +
  `'slice', 'map', 'filter', 'forEach', 'reduce', 'reduceRight', 'some', 'every', 'find', 'findIndex', ` +
  `'findLast', 'findLastIndex', 'set', 'toReversed', 'toSorted', 'with']) {
    wrap(TypedProto, name, name === 'set' ? (t, args) => lengthOf(args[0]) : byThis, name === 'join' ? byResult : null);
  }
  const StringProto = String.prototype;
  for (const name of ['indexOf', 'lastIndexOf', 'includes', 'split', 'replace', 'replaceAll', 'match', 'matchAll', ` +
  `'search', 'toUpperCase', 'toLowerCase', 'toLocaleUpperCase', 'toLocaleLowerCase', 'normalize', 'trim', ` +
  `'trimStart', 'trimEnd', 'localeCompare', 'startsWith', 'endsWith']) {
    wrap(StringProto, name, byThisAndArgs, null);
  }
  const times = (t, n) => { const r = lengthOf(t) * n; return r > 0 && r <= 1073741823 ? r : 0; };
  wrap(StringProto, 'repeat', (t, args) => times(t, +args[0]), null);
  for (const name of ['padStart', 'padEnd']) wrap(StringProto, name, (t, args) => times(' ', +args[0]), null);
  for (const name of ['concat', 'slice', 'substring', 'substr']) wrap(StringProto, name, null, byResult);
  const parseText = (t, args) => (typeof args[0] === 'string' ? args[0].length : 0);
  wrap(JSON, 'parse', parseText, null);
  wrap(JSON, 'stringify', null, byResult);

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

  const hex = (n) => { let s = ''; for (let i = 0; i < n; i++) s += Math.floor(next() * ` +
  `256).toString(16).padStart(2, '0'); return s; };
  const post = (kind, body, opts) => {
    if (typeof kind !== 'string' || kind.length === 0 || kind.length > 64) throw new TypeError('ctx.post: kind must ` +
  `be a string of 1-64 characters');
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
    value: (outputLimit, stateLimit) => { maxOutputBytes = outputLimit; maxStateBytes = stateLimit; delete ` +
  `globalThis.__parley_configure; },
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
      if (state !== undefined && state.length > maxStateBytes) throw new RangeError('state exceeds ' + ` +
  String.raw`maxStateBytes + ' bytes');
      return '[' + outputs.join(',') + ']\n' + (state === undefined ? 'null' : state);
    },
  });
})();
`;
