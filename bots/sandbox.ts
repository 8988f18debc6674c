/**
 * The bot sandbox: one QuickJS (quickjs-emscripten, sync build) WebAssembly instance, runtime and context per bot,
 * reused across steps. A separate instance per bot means a bot that corrupts its engine (QuickJS can leak objects
 * after a stack overflow, and freeing such a runtime aborts the whole instance) harms only itself.
 * Deterministic by construction (bots/prelude.ts), bounded by a memory limit, a stack limit and a gas budget
 * counted in interrupt-handler calls, which QuickJS makes at a fixed bytecode rhythm and so counts identically on
 * every machine. A wall-clock backstop stops a step that is merely slow *here* and calls it unverifiable.
 *
 * Over 400 lines: one engine instance's whole life (load, step, meter, free) reads best in one place; the engine's
 * rules and limits are already apart in bots/engine.ts.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
// Types only: the engine itself is loaded with the first bot (`loadBot`), so a node without bots never loads it.
import type { Intrinsics, QuickJSContext, QuickJSHandle, QuickJSRuntime, QuickJSWASMModule } from 'quickjs-emscripten';
import { canonicalString, type Json } from '../protocol/canonical.js';
import { sha256Hex } from '../protocol/hash.js';
import {
  HOST_GAS_BYTES,
  hostGas,
  sanitizeLimits,
  WASM_BASE_BYTES,
  WASM_FILE,
  WASM_PAGE,
  type Limits,
} from './engine.js';
import { PRELUDE } from './prelude.js';
import { prngState } from './seed.js';
import { encodable } from '../protocol/canonical-fast.js';

// The engine's identity and limits live in bots/engine.ts; importers of the sandbox find them here too.
export {
  DEFAULT_LIMITS,
  ENGINE,
  ENGINE_ID,
  HOST_CALL_GAS,
  HOST_GAS_BYTES,
  hostGas,
  MAX_LIMITS,
  MIN_MEMORY_BYTES,
  requestLimits,
  sanitizeLimits,
  WASM_BASE_BYTES,
  WASM_PAGE,
  type Limits,
} from './engine.js';

/** The hooks a step can call, in the order bots/prelude.ts numbers them (the replay thread's lines use it too). */
export const HOOKS = ['init', 'onJoin', 'onMessage'] as const;

export interface StepInput {
  hook: (typeof HOOKS)[number];
  arg: Json;
  state: Json | null;
  now: number;
  members: Json;
  channel: Json;
  /** 64 hex characters: this step's seed (bots/seed.ts stepRandom). */
  random: string;
}

export interface BotOutput {
  kind: string;
  body: Json;
  to?: string;
}

export type StepOutcome =
  | { status: 'ok' | 'error'; outputs: BotOutput[]; state: Json | null; stateHash: string; gas: number; error?: string }
  | { status: 'unverifiable'; reason: string };

/** A step as texts (see `stepText`): the state is the JSON text the guest wrote at the end of the previous step. */
export interface TextStep {
  hook: StepInput['hook'];
  now: number;
  /** The PRNG's starting state (bots/seed.ts prngState of the step's random). */
  rng: readonly number[];
  argText: string;
  stateText: string;
  members: Json;
  channel: Json;
}

export type TextOutcome =
  | {
      status: 'ok';
      outputsText: string;
      outputs: BotOutput[];
      stateText: string;
      state: Json | null;
      stateHash: string;
      gas: number;
    }
  | { status: 'failed'; error: string; gas: number }
  | { status: 'unverifiable'; reason: string };

export interface BotSandbox {
  step(input: StepInput): StepOutcome;
  stepText(step: TextStep): TextOutcome;
  /** Bytes of WebAssembly memory the bot's instance holds now (never more than WASM_BASE_BYTES + its limit). */
  memoryBytes(): number;
  close(): void;
}

export const stateHash = (state: Json | null): string => sha256Hex(canonicalString(state));

class Interrupted extends Error {}

/**
 * One bot's context. Errors, out-of-gas and out-of-memory stops happen at the same point on every machine, so the
 * context carries on after them. A wall-clock stop does not: after one, this node stops vouching for the bot.
 */
class QuickJSBot implements BotSandbox {
  private runtime!: QuickJSRuntime;
  private vm!: QuickJSContext;
  private stepFn!: QuickJSHandle;
  /** '' as a guest string, made once: most steps pass it (members and channel unchanged). */
  private emptyText!: QuickJSHandle;
  private loadError: string | null = null;
  private gasUsed = 0;
  private deadline = Infinity;
  private overGas = false;
  private overTime = false;
  private closed = false;
  private failed = false;
  private tainted: string | null = null;
  /** Members and channel as the guest last received them (it keeps them between steps; see bots/prelude.ts). */
  private sent: { members: unknown; membersText: string; channel: unknown; channelText: string } | null = null;

  constructor(
    private readonly mod: QuickJSWASMModule,
    private readonly intrinsics: Intrinsics,
    private readonly source: string,
    private readonly limits: Limits,
  ) {
    this.build();
  }

  memoryBytes(): number {
    return this.mod.getWasmMemory().buffer.byteLength;
  }

  /**
   * Charges a host call handed `text` (a guest string) before doing its work: out of gas or past the wall-clock
   * backstop, it throws instead. The guest may catch that, but the flags stay set: the next interrupt poll stops
   * the step, and withBudget reports it as out of gas (or unverifiable) even if the guest returns first.
   */
  private charge(text: QuickJSHandle): void {
    if (this.overGas || this.overTime) throw new Error('out of gas');
    const len = this.vm.getProp(text, 'length');
    const units = this.vm.typeof(len) === 'number' ? this.vm.getNumber(len) : 0;
    len.dispose();
    this.spend(hostGas(units));
  }

  /** Adds `gas` to the step's use; throws (and flags the step) past the budget or the wall-clock backstop. */
  private spend(gas: number): void {
    this.gasUsed += gas;
    if (this.gasUsed > this.limits.gas) this.overGas = true;
    else if (Date.now() > this.deadline) this.overTime = true;
    if (this.overGas || this.overTime) throw new Error('out of gas');
  }

  private build(): void {
    this.gasUsed = 0;
    this.overGas = false;
    this.overTime = false;
    this.deadline = Infinity;
    this.runtime = this.mod.newRuntime({
      memoryLimitBytes: this.limits.memoryBytes,
      maxStackSizeBytes: this.limits.stackBytes,
    });
    this.runtime.setInterruptHandler(() => {
      this.gasUsed++;
      if (this.gasUsed > this.limits.gas) this.overGas = true;
      else if (Date.now() > this.deadline) this.overTime = true;
      return this.overGas || this.overTime;
    });
    this.vm = this.runtime.newContext({ intrinsics: { ...this.intrinsics, Date: false } });
    const hashFn = this.vm.newFunction('__parley_hash', (h) => {
      this.charge(h);
      const out = this.vm.newString(createHash('sha256').update(this.vm.getString(h)).digest('hex'));
      // The backstop also covers the host's own work: a step stuck in host calls stops at the next one.
      if (Date.now() > this.deadline) this.overTime = true;
      return out;
    });
    this.vm.setProp(this.vm.global, '__parley_hash', hashFn);
    hashFn.dispose();
    // Charges a metered built-in (bots/prelude.ts) that will process, or just did, `n` units: floor(n / 16 KiB) gas.
    const meterFn = this.vm.newFunction('__parley_meter', (n) => {
      if (this.overGas || this.overTime) throw new Error('out of gas');
      const units = this.vm.typeof(n) === 'number' ? this.vm.getNumber(n) : 0;
      this.spend(Math.floor(units / HOST_GAS_BYTES));
      return this.vm.undefined;
    });
    this.vm.setProp(this.vm.global, '__parley_meter', meterFn);
    meterFn.dispose();
    this.vm.unwrapResult(this.vm.evalCode(PRELUDE, 'parley-prelude.js')).dispose();
    this.stepFn = this.vm.getProp(this.vm.global, '__parley_step');
    this.emptyText = this.vm.newString('');
    const configure = this.vm.getProp(this.vm.global, '__parley_configure');
    this.vm
      .unwrapResult(
        this.vm.callFunction(
          configure,
          this.vm.undefined,
          this.vm.newNumber(this.limits.maxOutputBytes),
          this.vm.newNumber(this.limits.maxStateBytes),
        ),
      )
      .dispose();
    configure.dispose();
    this.loadError = this.withBudget(() => this.loadModule());
    if (this.loadError) this.failed = true;
  }

  /** Evaluates the bot as an ES module (`export default { init, onJoin, onMessage }`); null or the failure. */
  private loadModule(): void {
    const result = this.vm.evalCode(this.source, 'bot.js', { type: 'module' });
    const ns = this.vm.unwrapResult(result);
    try {
      this.runtime.executePendingJobs();
      const state = this.vm.getPromiseState(ns);
      if (state.type === 'rejected') {
        const err = this.vm.dump(state.error);
        state.error.dispose();
        throw Object.assign(new Error(), err);
      }
      const namespace = state.type === 'fulfilled' ? state.value : ns;
      const def = this.vm.getProp(namespace, 'default');
      if (this.vm.typeof(def) !== 'object') {
        def.dispose();
        throw new TypeError('the bot must `export default { init, onJoin, onMessage }`');
      }
      const setter = this.vm.getProp(this.vm.global, '__parley_set_bot');
      this.vm.unwrapResult(this.vm.callFunction(setter, this.vm.undefined, def)).dispose();
      setter.dispose();
      def.dispose();
      if (namespace !== ns) namespace.dispose();
    } finally {
      ns.dispose();
    }
  }

  /** Runs `f` under a fresh gas budget; returns null or a deterministic error message. */
  private withBudget(f: () => void): string | null {
    this.gasUsed = 0;
    this.overGas = false;
    this.overTime = false;
    this.deadline = Date.now() + this.limits.wallMs;
    let error: string | null = null;
    try {
      f();
    } catch (err) {
      error = describe(err);
    }
    // Checked after a normal return too: a guest that caught a host call's refusal still ran out.
    if (this.overTime) throw new Interrupted();
    if (this.overGas) return `out of gas (more than ${this.limits.gas} units)`;
    return error;
  }

  /** A step that failed: its outputs are the error notice and the state stays as it was. */
  private rollback(input: StepInput, error: string): StepOutcome {
    return {
      status: 'error',
      outputs: [{ kind: 'error', body: error }],
      state: input.state,
      stateHash: stateHash(input.state),
      gas: this.gasUsed,
      error,
    };
  }

  /** One guest call: `[argument, state]` and (when they changed) members/channel texts, hook, `now`, PRNG state. */
  private call(t: TextStep, extraText: string): string {
    const vm = this.vm;
    // join() builds one flat string, which is copied into the guest faster than a concatenation.
    const owned = [
      vm.newString(['[', t.argText, ',', t.stateText, ']'].join('')),
      vm.newNumber(HOOKS.indexOf(t.hook)),
      vm.newNumber(t.now),
    ];
    for (let i = 0; i < 4; i++) owned.push(vm.newNumber(t.rng[i]));
    const extra = extraText === '' ? this.emptyText : vm.newString(extraText);
    try {
      const handle = vm.unwrapResult(vm.callFunction(this.stepFn, vm.undefined, [owned[0], extra, ...owned.slice(1)]));
      const out = vm.getString(handle);
      handle.dispose();
      return out;
    } finally {
      for (const a of owned) a.dispose();
      if (extra !== this.emptyText) extra.dispose();
    }
  }

  step(input: StepInput): StepOutcome {
    const o = this.stepText({
      hook: input.hook,
      now: input.now,
      rng: prngState(input.random),
      argText: JSON.stringify(input.arg ?? null),
      stateText: JSON.stringify(input.state ?? null),
      members: input.members,
      channel: input.channel,
    });
    if (o.status === 'unverifiable') return o;
    if (o.status === 'failed') return this.rollback(input, o.error);
    return { status: 'ok', outputs: o.outputs, state: o.state, stateHash: o.stateHash, gas: o.gas };
  }

  /**
   * One step from texts: what a replayer that keeps the state as the guest wrote it uses (bots/replayer.ts). On
   * `failed` the step's outputs are the error notice and the state stays as it was (the caller holds it).
   */
  stepText(t: TextStep): TextOutcome {
    if (this.closed) throw new Error('sandbox is closed');
    if (this.tainted) return { status: 'unverifiable', reason: this.tainted };
    if (this.loadError) return { status: 'failed', error: `bot failed to load: ${this.loadError}`, gas: this.gasUsed };
    let text = '';
    let failure: string | null;
    try {
      failure = this.withBudget(() => {
        text = this.call(t, this.extra(t.members, t.channel));
      });
    } catch (err) {
      if (!(err instanceof Interrupted)) throw err;
      this.failed = true;
      this.tainted = `an earlier step ran longer than the ${this.limits.wallMs} ms backstop on this machine`;
      return {
        status: 'unverifiable',
        reason: `the step ran longer than the ${this.limits.wallMs} ms backstop on this machine`,
      };
    }
    const fail = (error: string): TextOutcome => ({ status: 'failed', error, gas: this.gasUsed });
    if (failure !== null) {
      this.failed = true;
      // The step may have stopped before the guest took in new members or channel: send them again next time.
      this.sent = null;
      return fail(failure);
    }
    const cut = text.indexOf('\n');
    const outputsText = text.slice(0, cut);
    const stateText = text.slice(cut + 1);
    let outputs: BotOutput[];
    let state: Json | null;
    try {
      outputs = JSON.parse(outputsText) as BotOutput[];
      state = JSON.parse(stateText) as Json | null;
    } catch {
      return fail('the bot produced output that is not JSON');
    }
    if (!encodable(outputs)) return fail('the bot produced output that is not JSON');
    let hash: string;
    try {
      const canonical = canonicalString(state);
      if (canonical.length > this.limits.maxStateBytes) return fail(`state exceeds ${this.limits.maxStateBytes} bytes`);
      hash = sha256Hex(canonical);
    } catch {
      return fail('state is not plain JSON');
    }
    return { status: 'ok', outputsText, outputs, stateText, state, stateHash: hash, gas: this.gasUsed };
  }

  /** Members and channel for the guest (bots/prelude.ts) when they changed since it last took them in, else ''. */
  private extra(members: Json, channel: Json): string {
    const prev = this.sent;
    if (prev && prev.members === members && prev.channel === channel) return '';
    const membersText = prev && prev.members === members ? prev.membersText : JSON.stringify(members);
    const channelText = prev && prev.channel === channel ? prev.channelText : JSON.stringify(channel);
    const msg: Record<string, unknown> = {};
    if (!prev || prev.membersText !== membersText) msg.members = members;
    if (!prev || prev.channelText !== channelText) msg.channel = channel;
    this.sent = { members, membersText, channel, channelText };
    return Object.keys(msg).length === 0 ? '' : JSON.stringify(msg);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // After a failure the runtime may hold leaked objects and freeing it would abort; the instance is private to
    // this bot, so dropping it whole is safe and leaves the memory to the garbage collector.
    if (this.failed) return;
    this.stepFn.dispose();
    this.emptyText.dispose();
    this.vm.dispose();
    this.runtime.dispose();
  }
}

/** A guest error as one deterministic line: name and message, never a stack (addresses and lines differ). */
function describe(err: unknown): string {
  const e = err as { name?: unknown; message?: unknown };
  const name = typeof e?.name === 'string' && e.name ? e.name : 'Error';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return `${name}: ${message}`.slice(0, 500);
}

let compiled: Promise<WebAssembly.Module> | null = null;

export async function loadBot(source: string, limits: unknown = {}): Promise<BotSandbox> {
  const l = sanitizeLimits(limits);
  compiled ??= WebAssembly.compile(readFileSync(WASM_FILE));
  const wasmModule = await compiled;
  const wasmMemory = new WebAssembly.Memory({
    initial: WASM_BASE_BYTES / WASM_PAGE,
    maximum: (WASM_BASE_BYTES + Math.ceil(l.memoryBytes / WASM_PAGE) * WASM_PAGE) / WASM_PAGE,
  });
  const { newQuickJSWASMModule, newVariant, RELEASE_SYNC, DefaultIntrinsics } = await import('quickjs-emscripten');
  const mod = await newQuickJSWASMModule(newVariant(RELEASE_SYNC, { wasmModule, wasmMemory }));
  return new QuickJSBot(mod, DefaultIntrinsics, source, l);
}
