/**
 * `npm run bench -- verify [--events N] [--rounds R] [--budget S] [--dag paced|blind] [--keep]`
 *
 * `parley verify` throughput (events/s) on an N-event export. The export is built in-process (dev/bots-log.ts):
 * real signed and sealed events — channel.create with two invite slots, two slot-signed claims and their admissions, a
 * dice bot attached by the owner and run by the product's own runner (bots/channel-bots.ts), then chat messages, rolls,
 * malformed rolls and member.status updates, each message answered by a bot.step — written in the node/transcript.ts
 * format exactly as cli/export.ts writes it. (Driving `parley mcp` nodes through a relay gives the same bytes but takes
 * minutes for 10,000 events; this takes seconds.)
 *
 * Measured, rounds interleaved:
 *   - baseline: read the file, JSON.parse it, and check every event's Ed25519 signature with libsodium — the floor
 *     any verifier pays;
 *   - event checks only: node/transcript.ts checkTranscriptEvents (signatures, schema, chains, lamports, membership);
 *   - in-process: node/offline-verify.ts verifyFile (everything, including replaying every bot step);
 *   - CLI: `node dist/cli/main.js verify <file>` end to end (process start-up, module loading, the same work).
 * `--dag blind` makes players post without the bot's replies in their deps (see bench/bots.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ready, sodium } from '../protocol/sodium.js';
import { verifyFile } from '../node/offline-verify.js';
import { checkTranscriptEvents, TranscriptSchema } from '../node/transcript.js';
import { buildBotLog, toTranscript, type Move, type MovePicker } from '../dev/bots-log.js';
import { prng } from './util.js';
import { fmt, summarize } from './util.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const SIGN_CONTEXT = Buffer.from('parley-event-v1');
const WORDS = (
  'the bot rolled again and we should check whether the plan still holds before the next step of the review ' +
  'so please confirm'
).split(' ');

/**
 * The messages and statuses that bring the export to exactly `events` events (7 fixed: create, two claims and their
 * admissions, attach, init step; + 2 per message + 1 per status).
 */
function plan(events: number, blind: boolean): Move[] {
  const rest = events - 7;
  if (rest < 2) throw new Error('--events must be at least 9');
  let statuses = Math.floor(rest / 250);
  if ((rest - statuses) % 2 === 1) statuses++;
  const messages = (rest - statuses) / 2;
  const rnd = prng(42);
  const every = Math.max(1, Math.floor((messages + statuses) / Math.max(1, statuses)));
  const out: Move[] = [];
  let m = 0;
  let s = 0;
  for (let k = 0; m < messages || s < statuses; k++) {
    const player = Math.floor(rnd() * 2);
    if (s < statuses && (k % every === every - 1 || m === messages)) {
      out.push({ player, status: (['working', 'waiting', 'blocked', 'complete'] as const)[s % 4] });
      s++;
      continue;
    }
    const r = rnd();
    if (r < 0.3)
      out.push({ player, kind: 'roll', body: ['2d6', '1d20', '3d6', 'd6', '4d8'][Math.floor(rnd() * 5)], blind });
    else if (r < 0.35) out.push({ player, kind: 'roll', body: 'banana', blind });
    else {
      const words = Array.from({ length: 3 + Math.floor(rnd() * 60) }, () => WORDS[Math.floor(rnd() * WORDS.length)]);
      out.push({
        player,
        kind: 'chat',
        body: words.join(' '),
        ...(r > 0.95 ? { to: player === 0 ? 'invite:b' : 'invite:a' } : {}),
        blind,
      });
    }
    m++;
  }
  return out;
}

/** Builds the log and writes it as cli/export.ts would; returns only a summary, so the log can be collected. */
async function writeExport(
  file: string,
  n: number,
  blind: boolean,
): Promise<{ events: number; types: string; bytes: number; ms: number }> {
  const t0 = performance.now();
  const moves = plan(n, blind);
  let k = 0;
  const pick: MovePicker = () => (k < moves.length ? [moves[k++]] : null);
  const log = await buildBotLog('dice', pick, { name: 'bench verify' });
  const text = JSON.stringify(toTranscript(log), null, 1) + '\n';
  writeFileSync(file, text);
  if (log.events.length !== n) throw new Error(`built ${log.events.length} events, wanted ${n}`);
  const types = new Map<string, number>();
  for (const e of log.events) types.set(e.body.type, (types.get(e.body.type) ?? 0) + 1);
  return {
    events: n,
    types: [...types].map(([t, c]) => `${c} ${t}`).join(', '),
    bytes: Buffer.byteLength(text),
    ms: performance.now() - t0,
  };
}

/** The floor: parse the file and check each event's signature over "parley-event-v1" ‖ body, nothing else. */
function baseline(file: string): number {
  const t = JSON.parse(readFileSync(file, 'utf8')) as { events: { body: string; sig: string }[] };
  const s = sodium();
  let good = 0;
  for (const e of t.events) {
    const author = (JSON.parse(e.body) as { author: string }).author;
    const msg = Buffer.concat([SIGN_CONTEXT, Buffer.from(e.body, 'utf8')]);
    if (s.crypto_sign_verify_detached(Buffer.from(e.sig, 'base64url'), msg, Buffer.from(author, 'base64url'))) good++;
  }
  if (good !== t.events.length) throw new Error(`baseline: ${t.events.length - good} bad signatures`);
  return good;
}

function checksOnly(file: string): number {
  const t = TranscriptSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  const r = checkTranscriptEvents(t);
  if (r.problems.length > 0) throw new Error(`event checks: ${r.problems.slice(0, 3).join('; ')}`);
  return r.events.length;
}

async function inProcess(file: string, expected: number): Promise<number> {
  const report = await verifyFile(JSON.parse(readFileSync(file, 'utf8')));
  if (!report.ok || report.events !== expected) {
    throw new Error(`verifyFile did not pass: ${JSON.stringify({ ...report, problems: report.problems.slice(0, 3) })}`);
  }
  return report.events;
}

/** Runs the CLI; resolves with its stdout, rejects on a non-zero exit. */
function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`parley ${args.join(' ')} exited ${code}: ${(out + err).slice(-500)}`)),
    );
  });
}

async function timed<T>(f: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await f();
  return { ms: performance.now() - t0, value };
}

// Long: a benchmark script: set up, measure, print, in the order its output reads.
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      events: { type: 'string', default: '10000' },
      rounds: { type: 'string', default: '2' },
      budget: { type: 'string', default: '60' },
      dag: { type: 'string', default: 'paced' },
      keep: { type: 'boolean', default: false },
    },
  });
  const n = Number(values.events);
  const rounds = Number(values.rounds);
  const budgetMs = Number(values.budget) * 1000;
  if (!Number.isInteger(n) || !Number.isInteger(rounds) || rounds < 1 || !(budgetMs > 0))
    throw new Error('--events and --rounds must be integers, --budget a number of seconds');
  if (values.dag !== 'paced' && values.dag !== 'blind') throw new Error('--dag is paced or blind');
  await ready();
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-verify-'));
  try {
    const file = join(dir, 'export.json');
    const built = await writeExport(file, n, values.dag === 'blind');
    console.log(
      `verify: ${built.events}-event export (${built.types}; ${values.dag} DAG), ${fmt(built.bytes / 1e6)} MB, ` +
        `built in ${fmt(built.ms / 1000)} s (node ${process.version})`,
    );

    const startup = await timed(() => cli(['verify', '--help']));
    const rates = { base: [] as number[], checks: [] as number[], inproc: [] as number[], cli: [] as number[] };
    const c0 = performance.now();
    for (let r = 0; r < rounds; r++) {
      const b = await timed(() => baseline(file));
      const c = await timed(() => checksOnly(file));
      const v = await timed(() => inProcess(file, n));
      const x = await timed(() => cli(['verify', file]));
      if (!x.value.includes('OK: everything verifies')) throw new Error(`parley verify output: ${x.value.slice(-500)}`);
      rates.base.push((n / b.ms) * 1000);
      rates.checks.push((n / c.ms) * 1000);
      rates.inproc.push((n / v.ms) * 1000);
      rates.cli.push((n / x.ms) * 1000);
      console.log(
        `  round ${r + 1}: baseline ${fmt(b.ms, 0)} ms | event checks ${fmt(c.ms, 0)} ms | ` +
          `verifyFile ${fmt(v.ms, 0)} ms | CLI ${fmt(x.ms, 0)} ms`,
      );
      if (performance.now() - c0 > budgetMs && r + 1 < rounds) {
        console.log(`  (stopping after ${r + 1} round(s): over the ${fmt(budgetMs / 1000, 0)} s budget)`);
        break;
      }
    }
    const med = (xs: number[]) => summarize(xs).p50;
    const base = med(rates.base);
    const row = (label: string, rate: number, note = '') =>
      console.log(
        `  ${label.padEnd(44)} ${fmt(rate, 0).padStart(8)} events/s   ${fmt(rate / base, 3).padStart(6)}× ` +
          `baseline${note}`,
      );
    console.log(`\nmedian of ${rates.base.length} round(s):`);
    row('baseline: JSON.parse + Ed25519 check per event', base);
    row('event checks only (checkTranscriptEvents)', med(rates.checks));
    row('parley verify in-process (verifyFile)', med(rates.inproc));
    row(
      'parley verify CLI end to end',
      med(rates.cli),
      `   (incl. ${fmt(startup.ms, 0)} ms start-up: \`verify --help\`)`,
    );
    if (values.keep) console.log(`kept ${file}`);
  } finally {
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
}
