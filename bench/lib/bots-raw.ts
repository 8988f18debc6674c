/**
 * The raw QuickJS floor for the bots benchmark: quickjs-emscripten used directly, with the same build variant as
 * bots/sandbox.ts (RELEASE_SYNC) but nothing else — one context, the bot module evaluated once, and onMessage called
 * once per input with JSON in and JSON out (state carried across calls). No prelude lockdown, no gas handler, no
 * memory limit, no state hashing, no canonical JSON, no verification.
 */
import { newQuickJSWASMModule, RELEASE_SYNC, type QuickJSContext, type QuickJSHandle } from 'quickjs-emscripten';
import type { Json } from '../../protocol/canonical.js';

// The smallest ctx a preset needs: state, a random() (a plain LCG seeded per call), and post().
const GLUE =
  `
globalThis.__call = (json) => {
  const input = JSON.parse(json);
  let s = input.seed >>> 0;
  const outputs = [];
  const ctx = {
    state: input.state,
    random: () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; },
    post(kind, body, opts) { const o = { kind, body }; if (opts && opts.to !== undefined) o.to = opts.to; ` +
  `outputs.push(o); },
  };
  globalThis.__bot.onMessage(ctx, input.arg);
  return JSON.stringify({ outputs, state: ctx.state });
};
globalThis.__init = () => {
  const ctx = { state: null, random: () => 0.5, post() {} };
  globalThis.__bot.init(ctx, {});
  return JSON.stringify(ctx.state);
};`;

export interface RawRun {
  steps: number;
  ms: number;
  outputs: number;
}

/** Loads `source`, runs its init once, then calls onMessage for every arg. */
export async function rawLoop(source: string, args: Json[]): Promise<RawRun> {
  const t0 = performance.now();
  const mod = await newQuickJSWASMModule(RELEASE_SYNC);
  const vm = mod.newContext();
  try {
    installBot(vm, source);
    vm.unwrapResult(vm.evalCode(GLUE, 'glue.js')).dispose();
    const call = vm.getProp(vm.global, '__call');
    const init = vm.getProp(vm.global, '__init');
    const initRes = vm.unwrapResult(vm.callFunction(init, vm.undefined));
    let state = JSON.parse(vm.getString(initRes)) as Json;
    initRes.dispose();
    init.dispose();
    let outputs = 0;
    try {
      for (let i = 0; i < args.length; i++) {
        const arg = vm.newString(JSON.stringify({ state, arg: args[i], seed: i * 2654435761 }));
        const res = vm.unwrapResult(vm.callFunction(call, vm.undefined, arg));
        arg.dispose();
        const out = JSON.parse(vm.getString(res)) as { outputs: unknown[]; state: Json };
        res.dispose();
        state = out.state;
        outputs += out.outputs.length;
      }
    } finally {
      call.dispose();
    }
    return { steps: args.length, ms: performance.now() - t0, outputs };
  } finally {
    vm.dispose();
  }
}

/** Evaluates the ES module and stores its default export as globalThis.__bot. */
function installBot(vm: QuickJSContext, source: string): void {
  const ns = vm.unwrapResult(vm.evalCode(source, 'bot.js', { type: 'module' }));
  let namespace: QuickJSHandle = ns;
  vm.runtime.executePendingJobs();
  const st = vm.getPromiseState(ns);
  if (st.type === 'rejected') throw new Error(`bot failed to load: ${JSON.stringify(vm.dump(st.error))}`);
  if (st.type === 'fulfilled' && st.value !== ns) namespace = st.value;
  const def = vm.getProp(namespace, 'default');
  vm.setProp(vm.global, '__bot', def);
  def.dispose();
  if (namespace !== ns) namespace.dispose();
  ns.dispose();
}
