/**
 * The engine a bot runs on, as far as it decides where a step stops: the QuickJS build and its identity
 * (`ENGINE_ID`), the gas and memory rules, and the limits a bot may be given (defaults, maxima, and the checks of
 * what an owner or a manifest asks for). The sandbox that applies them is bots/sandbox.ts.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { canonicalString, type Json } from '../protocol/canonical.js';
import { sha256Hex } from '../protocol/hash.js';
import { PRELUDE } from './prelude.js';

export const ENGINE = 'quickjs-emscripten@0.32.0/release-sync';

/**
 * Gas rules besides QuickJS's own interrupt rhythm: a host function the guest calls (today only the hash behind
 * ctx.commit) costs HOST_CALL_GAS plus one unit per HOST_GAS_BYTES string units it is handed, charged before any
 * work is done. A unit of hashing (~0.2 ms here) costs less time than a unit of bytecode (~0.8 ms): docs/bots.md.
 */
export const HOST_CALL_GAS = 1;
export const HOST_GAS_BYTES = 16 * 1024;

/** Gas for a host call handed `units` string units. */
export const hostGas = (units: number): number => HOST_CALL_GAS + Math.ceil(units / HOST_GAS_BYTES);

/**
 * The bot's WebAssembly memory: the engine starts with WASM_BASE_BYTES (Emscripten's initial memory, which holds
 * QuickJS's own data, stack and first heap) and may grow by the memory limit, rounded up to 64 KiB pages, and no
 * further. Growth past that fails inside the allocator, which QuickJS reports as `InternalError: out of memory`.
 * The allocator, its growth policy and every allocation the step makes are the same on every machine, so the same
 * step fails at the same point everywhere.
 */
export const WASM_PAGE = 64 * 1024;
export const WASM_BASE_BYTES = 16 * 1024 * 1024;

export interface Limits {
  memoryBytes: number;
  stackBytes: number;
  /** Interrupt-handler calls per step (QuickJS calls it about every 10k bytecode operations). */
  gas: number;
  wallMs: number;
  maxOutputBytes: number;
  maxStateBytes: number;
}

export const DEFAULT_LIMITS: Limits = {
  memoryBytes: 32 * 1024 * 1024,
  stackBytes: 512 * 1024,
  gas: 400,
  wallMs: 5000,
  maxOutputBytes: 64 * 1024,
  maxStateBytes: 256 * 1024,
};

/** Upper bounds a bot's manifest may ask for: the manifest comes from the channel, so it is untrusted input. */
export const MAX_LIMITS: Limits = {
  memoryBytes: 128 * 1024 * 1024,
  stackBytes: 4 * 1024 * 1024,
  gas: 20_000,
  wallMs: 10_000,
  maxOutputBytes: 256 * 1024,
  maxStateBytes: 1024 * 1024,
};

/** The engine's WebAssembly file: hashed into ENGINE_ID, compiled once per process and instantiated per bot. */
export const WASM_FILE = createRequire(import.meta.url).resolve('@jitl/quickjs-wasmfile-release-sync/wasm');

/**
 * Everything that decides where a step stops, besides the bot and its inputs: the QuickJS build (its WebAssembly
 * bytes), the prelude (its bytecode counts toward gas), the gas and memory rules and the limits' defaults and
 * maxima. `bot.attach` records it; a node whose engine differs cannot replay the bot's steps faithfully and reports
 * them unverifiable, never as a mismatch. PARLEY_TEST_ENGINE_ID stands in for it in tests of that case.
 */
export const ENGINE_ID: string =
  process.env.PARLEY_TEST_ENGINE_ID ||
  'qjs-' +
    sha256Hex(
      canonicalString({
        build: ENGINE,
        wasm: createHash('sha256').update(readFileSync(WASM_FILE)).digest('hex'),
        prelude: sha256Hex(PRELUDE),
        gas: { interrupt: 'one unit per interrupt-handler call', hostCall: HOST_CALL_GAS, hostBytes: HOST_GAS_BYTES },
        memory: { base: WASM_BASE_BYTES, page: WASM_PAGE, rule: 'linear memory capped at base + limit' },
        defaults: DEFAULT_LIMITS as unknown as Json,
        maxima: MAX_LIMITS as unknown as Json,
      }),
    ).slice(0, 16);

/**
 * The limits an owner asks for in attach_bot ({memory, gas}, the rest default), or a RangeError naming the bound:
 * asked-for values are refused, not clamped, so the owner knows what the bot gets.
 */
export function requestLimits(req: { memory?: number; gas?: number } = {}): Limits {
  const out = { ...DEFAULT_LIMITS };
  const check = (name: string, v: number | undefined, min: number, max: number): number | undefined => {
    if (v === undefined) return undefined;
    if (!Number.isSafeInteger(v) || v < min || v > max)
      throw new RangeError(`limits.${name} must be an integer from ${min} to ${max} (got ${v}).`);
    return v;
  };
  out.memoryBytes = check('memory', req.memory, MIN_MEMORY_BYTES, MAX_LIMITS.memoryBytes) ?? out.memoryBytes;
  out.gas = check('gas', req.gas, 1, MAX_LIMITS.gas) ?? out.gas;
  return out;
}

/** The least memory attach_bot grants: below this even small bots cannot load. */
export const MIN_MEMORY_BYTES = 1024 * 1024;

export function sanitizeLimits(requested: unknown): Limits {
  const r = (requested && typeof requested === 'object' ? requested : {}) as Record<string, unknown>;
  const out = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]) {
    const v = r[key];
    if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) out[key] = Math.min(v, MAX_LIMITS[key]);
  }
  return out;
}
