/**
 * `npm run bench -- bots [--moves N] [--rounds R] [--budget S] [--cases dice,tictactoe,dice-blind]`
 *
 * Bot replay throughput through the verifier path nodes use. A log of N message inputs and the runner's N+1
 * bot.step events (real signed events; steps produced by the product's own runner, see dev/bots-log.ts) is
 * delivered to a fresh Membership + ChannelBots exactly as node/channel.ts `delivered` does on a node that is not
 * the runner (and as node/offline-verify.ts does); ChannelBots checks and replays every step.
 *
 * Baseline in the same run: the same bot's onMessage called N times on the same args in a bare quickjs-emscripten
 * context (bench/lib/bots-raw.ts). A middle rung, bots/sandbox.ts `step` called directly with each step's recorded
 * input (no ChannelBots), splits the gap into sandbox cost and verifier bookkeeping.
 *
 * Cases: `dice` and `tictactoe` are paced (each move is posted after the bot's previous step arrived, so it depends
 * on it — what a node does when players read the bot's reply first, and the only way to play tic-tac-toe);
 * `dice-blind` posts each roll without the bot's previous reply in its deps (players who do not wait), a DAG in
 * which the verifier's causal check (bots/inputs.ts unfedAncestor) is short by construction; the paced cases should
 * match it (accepted steps bound that walk), which this case checks.
 * After one untimed warm-up round, rounds alternate the three measurements. The ratio reported is the median over
 * rounds of each round's verifier/raw (the relay bench does the same): the two run back to back, so the machine's
 * drift between rounds cancels. Rounds stop early after --budget seconds.
 */
import { parseArgs } from 'node:util';
import { ready } from '../protocol/sodium.js';
import type { Json } from '../protocol/canonical.js';
import type { EventBody } from '../protocol/event.js';
import { Membership } from '../node/membership.js';
import { ChannelBots, type StepStatus } from '../bots/channel-bots.js';
import { loadBot, type StepInput } from '../bots/sandbox.js';
import { entropyStart, stepRandom } from '../bots/seed.js';
import { buildBotLog, dicePicker, settle, tictactoePicker, type BotLog } from '../dev/bots-log.js';
import { rawLoop } from './lib/bots-raw.js';
import { fmt, summarize } from './util.js';

interface Run {
  ms: number;
  steps: number;
  /** CPU time of the whole process (all threads, so the replay thread's too). */
  cpuMs?: number;
}

/** One non-runner node's view: membership.apply then bots.deliver for every event, then wait for the replays. */
async function verifierPass(log: BotLog, bodies: EventBody[]): Promise<Run> {
  const marks = new Map<StepStatus, number>();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const membership = new Membership(log.ch);
  // The mark callback stands in for node/channel/bot-wiring.ts's store.setMark (a SQLite write, not part of bots/).
  const bots = new ChannelBots(
    log.ch,
    membership,
    () => membership.name || log.name,
    undefined,
    (_id, status) => {
      marks.set(status, (marks.get(status) ?? 0) + 1);
    },
  );
  for (let i = 0; i < bodies.length; i++) {
    const b = bodies[i];
    const id = log.events[i].id;
    membership.apply(id, b);
    bots.deliver({ id, body: b });
  }
  await settle(bots);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const report = bots.report();
  bots.close();
  const r = report.bots[0];
  if (
    report.problems.length > 0 ||
    !r ||
    r.mismatches > 0 ||
    r.pending > 0 ||
    r.verified !== log.steps ||
    marks.get('verified') !== log.steps
  ) {
    const summary = { ...r, problems: report.problems.length, first: report.problems.slice(0, 3) };
    throw new Error(`the verifier did not verify the ${log.preset} log: ${JSON.stringify(summary)}`);
  }
  return { ms, steps: r.verified, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** The recorded inputs as bots/sandbox.ts receives them (the context ChannelBots derives: no joins after attach). */
function sandboxInputs(log: BotLog): Omit<StepInput, 'state'>[] {
  const acc = entropyStart(log.ch);
  const members: Json = [{ slot: 'owner', id: log.owner, name: 'owner' }];
  const channel: Json = { id: log.ch, name: log.name };
  return log.stepPayloads.map((p) => ({
    hook: p.input.hook,
    arg: p.input.arg,
    now: p.now,
    members,
    channel,
    random: stepRandom(log.seed, acc, p.n),
  }));
}

/** bots/sandbox.ts alone: load, then step through every recorded input, checking each state hash. */
async function sandboxPass(log: BotLog, inputs: Omit<StepInput, 'state'>[]): Promise<Run> {
  const t0 = performance.now();
  const bot = await loadBot(log.source, {});
  let state: Json | null = null;
  for (let i = 0; i < inputs.length; i++) {
    const out = bot.step({ ...inputs[i], state });
    if (out.status !== 'ok' || out.stateHash !== log.stepPayloads[i].stateHash)
      throw new Error(`sandbox replay of step ${i + 1} differs from the runner's`);
    state = out.state;
  }
  const ms = performance.now() - t0;
  bot.close();
  return { ms, steps: inputs.length };
}

/**
 * A full garbage collection before each timed pass (when node runs with --expose-gc, as `npm run bench` does), so
 * no pass pays for the garbage of the one before: each pass leaves a QuickJS instance with its own WebAssembly
 * memory, and whichever pass happened to be running when V8 reclaimed them used to absorb that cost.
 */
function collect(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

interface CaseResult {
  name: string;
  raw: number;
  sandbox: number;
  verifier: number;
  /** Median over rounds of each round's verifier/raw: the two run back to back, so drift cancels within a round. */
  ratio: number;
  ratios: number[];
}

// Long: a benchmark case: set up, measure each round, print, in the order its output reads.
async function benchCase(name: string, moves: number, rounds: number, budgetMs: number): Promise<CaseResult> {
  const preset = name.startsWith('tictactoe') ? 'tictactoe' : 'dice';
  const g0 = performance.now();
  const log = await buildBotLog(
    preset,
    preset === 'tictactoe' ? tictactoePicker(moves) : dicePicker(moves, name !== 'dice-blind'),
  );
  const genMs = performance.now() - g0;
  // What a node holds after ingest: bodies decoded from the signed canonical text (fresh objects, not the builder's).
  const bodies = log.events.map((e) => JSON.parse(e.bodyText) as EventBody);
  const inputs = sandboxInputs(log);
  console.log(
    `\n${name}: ${log.inputs} inputs, ${log.steps} bot.step events (incl. init), ${log.events.length} signed events ` +
      `in the log (built in ${fmt(genMs / 1000)} s)`,
  );
  // One untimed round first: the replay thread's JIT and WebAssembly tiers warm up on it, as the node's own thread
  // already has while the log was built.
  await rawLoop(log.source, log.messageArgs);
  await sandboxPass(log, inputs);
  await verifierPass(log, bodies);
  const rates = { raw: [] as number[], sandbox: [] as number[], verifier: [] as number[] };
  const c0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    collect();
    const raw = await rawLoop(log.source, log.messageArgs);
    collect();
    const sb = await sandboxPass(log, inputs);
    collect();
    const ver = await verifierPass(log, bodies);
    rates.raw.push((raw.steps / raw.ms) * 1000);
    rates.sandbox.push((sb.steps / sb.ms) * 1000);
    rates.verifier.push((ver.steps / ver.ms) * 1000);
    console.log(
      `  round ${r + 1}: raw ${raw.steps} calls ${fmt(raw.ms, 0)} ms | ` +
        `sandbox ${sb.steps} steps ${fmt(sb.ms, 0)} ms | verifier ${ver.steps} steps verified ${fmt(ver.ms, 0)} ms ` +
        `(CPU ${fmt(ver.cpuMs ?? 0, 0)} ms)`,
    );
    if (performance.now() - c0 > budgetMs && r + 1 < rounds) {
      console.log(`  (stopping after ${r + 1} round(s): over the ${fmt(budgetMs / 1000, 0)} s budget)`);
      break;
    }
  }
  const med = (xs: number[]) => summarize(xs).p50;
  const ratios = rates.verifier.map((v, i) => v / rates.raw[i]);
  const res = {
    name,
    raw: med(rates.raw),
    sandbox: med(rates.sandbox),
    verifier: med(rates.verifier),
    ratio: med(ratios),
    ratios,
  };
  const n = rates.raw.length;
  console.log(`  raw QuickJS loop               ${fmt(res.raw, 0).padStart(7)} steps/s   (median of ${n})`);
  console.log(
    `  bots/sandbox.ts step only      ${fmt(res.sandbox, 0).padStart(7)} steps/s ` +
      `  ${fmt(res.sandbox / res.raw, 3)}× raw`,
  );
  console.log(
    `  full verifier (ChannelBots)    ${fmt(res.verifier, 0).padStart(7)} steps/s ` +
      `  ${fmt(res.verifier / res.raw, 3)}× raw (of medians)`,
  );
  console.log(
    `  verifier/raw per round: ${ratios.map((r) => fmt(r, 3)).join(', ')}; median ${fmt(res.ratio, 3)}× ` +
      `  (target ≥ 0.7×)`,
  );
  return res;
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      moves: { type: 'string', default: '10000' },
      rounds: { type: 'string', default: '7' },
      budget: { type: 'string', default: '60' },
      cases: { type: 'string', default: 'dice,tictactoe,dice-blind' },
    },
  });
  const moves = Number(values.moves);
  const rounds = Number(values.rounds);
  const budget = Number(values.budget);
  if (!Number.isInteger(moves) || moves < 1 || !Number.isInteger(rounds) || rounds < 1 || !(budget > 0))
    throw new Error('--moves and --rounds must be positive integers, --budget a positive number of seconds');
  const cases = values.cases!.split(',').map((c) => c.trim());
  for (const c of cases) if (!['dice', 'tictactoe', 'dice-blind'].includes(c)) throw new Error(`unknown case ${c}`);
  await ready();
  console.log(
    `bots: ${moves}-input logs replayed through bots/channel-bots.ts vs a raw quickjs-emscripten loop ` +
      `(node ${process.version})`,
  );
  const results: CaseResult[] = [];
  for (const c of cases) results.push(await benchCase(c, moves, rounds, budget * 1000));
  console.log('\nsummary (steps/s, medians; ratio = median of per-round full verifier / raw)');
  for (const r of results) {
    const rate = (x: number) => fmt(x, 0).padStart(6);
    const rates = `raw ${rate(r.raw)}  sandbox ${rate(r.sandbox)}  verifier ${rate(r.verifier)}`;
    console.log(`  ${r.name.padEnd(13)} ${rates}  ratio ${fmt(r.ratio, 3)}×${r.ratio >= 0.7 ? '' : '  (misses 0.7×)'}`);
  }
}
