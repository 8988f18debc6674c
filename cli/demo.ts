/**
 * `parley demo` (= `npm start`): a local relay and two real `parley mcp` nodes in temporary profiles, driven over
 * stdio by the MCP SDK client as two agents playing the `guess` game. Prints the transcript with each node's
 * verification marks, exports the channel and verifies it offline, then cleans up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { parseOptions, type Command } from './command.js';
import type { CompactMessage, CompactSync, SyncResult, VerifyResult } from '../node/compact.js';

const CLI = fileURLToPath(new URL('./main.js', import.meta.url));

interface Agent {
  name: string;
  home: string;
  client: Client;
  /** Calls a tool and returns its structured content, typed as the caller reads it. */
  call<T = unknown>(tool: string, args?: Record<string, unknown>): Promise<T>;
}

/** The parts of create_channel's and join_channel's results the demo reads. */
interface Created {
  channel: string;
  invites: Record<string, string>;
  bots: { code_hash: string }[];
}
interface Joined {
  slot: string;
  members: { name: string }[];
}

type Step = (text: string) => void;

function startRelay(dataDir: string): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'relay', '--port', '0', '--data', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const timer = setTimeout(() => reject(new Error(`relay did not start: ${err.trim()}`)), 15_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /listening on (ws:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], child });
      }
    });
    child.on('exit', (code) => reject(new Error(`relay exited with code ${code}: ${err.trim()}`)));
  });
}

async function startAgent(name: string, relay: string, root: string): Promise<Agent> {
  const home = mkdtempSync(join(root, `${name.toLowerCase()}-`));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp'],
    env: { ...(process.env as Record<string, string>), PARLEY_HOME: home, PARLEY_RELAY: relay },
    stderr: 'ignore',
  });
  const client = new Client({ name: `demo-${name}`, version: '0.1.0' });
  await client.connect(transport);
  return {
    name,
    home,
    client,
    async call<T>(tool: string, args: Record<string, unknown> = {}): Promise<T> {
      const r = (await client.callTool({ name: tool, arguments: args }, CallToolResultSchema, {
        timeout: 60_000,
      })) as CallToolResult;
      if (r.isError) throw new Error(`${name}: ${tool} failed: ${(r.content[0] as { text: string }).text}`);
      return r.structuredContent as T;
    },
  };
}

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code: code ?? 1, out }));
  });
}

const MARK: Record<string, string> = {
  verified: '✔ verified',
  pending: '… pending',
  mismatch: '✘ MISMATCH',
  unverifiable: '? unverifiable',
};

/** Alice creates the guess channel with the bot and Bob joins it by its invite; returns the channel id. */
async function createAndJoin(alice: Agent, bob: Agent, step: Step): Promise<string> {
  const created = await alice.call<Created>('create_channel', {
    name: 'guess night',
    slots: ['invite:bob', 'bot:guess'],
    bot: { preset: 'guess' },
    display_name: 'Alice',
  });
  const ch = created.channel;
  step(`Alice created channel ${ch} with the guess bot (code sha256 ${created.bots[0].code_hash.slice(0, 16)}…)`);
  const joined = await bob.call<Joined>('join_channel', {
    invite_code: created.invites['invite:bob'],
    display_name: 'Bob',
  });
  step(`Bob joined as ${joined.slot}; members: ${joined.members.map((m) => m.name).join(', ')}`);
  return ch;
}

/** Bob plays by binary search, waiting for each hint addressed to him. */
async function playGuess(bob: Agent, ch: string, step: Step): Promise<void> {
  let lo = 1;
  let hi = 100;
  let cursor: string | undefined;
  for (let turn = 1; turn <= 10; turn++) {
    const guess = Math.floor((lo + hi) / 2);
    await bob.call('post_message', { channel: ch, kind: 'guess', body: String(guess) });
    let hint: CompactMessage | undefined;
    while (!hint) {
      const r = await bob.call<CompactSync>('sync_messages', { channel: ch, cursor, wait_seconds: 10 });
      cursor = r.cursor;
      hint = r.messages.find((m) => m.from === 'bot:guess' && m.kind === 'hint');
      if (!hint && r.messages.length === 0) throw new Error('the bot did not answer within 10 s');
    }
    step(`Bob guesses ${guess} → bot says "${hint.body}"`);
    if (hint.body === 'correct') break;
    if (hint.body === 'higher') lo = guess + 1;
    else hi = guess - 1;
  }
}

/** After the reveal every step replays and turns from pending to verified; gives up after 15 s. */
async function waitForVerified(agent: Agent, ch: string): Promise<VerifyResult> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const report = await agent.call<VerifyResult>('verify_channel', { channel: ch });
    const bot = report.bots[0];
    if ((bot && bot.pending === 0 && bot.steps > 0) || Date.now() > deadline) return report;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function printTranscript(agent: Agent, ch: string): Promise<void> {
  const transcript = await agent.call<SyncResult>('sync_messages', {
    channel: ch,
    cursor: '0',
    limit: 500,
    detail: 'full',
  });
  console.log(`\n— transcript as ${agent.name}'s node sees it —`);
  for (const m of transcript.messages) {
    const mark = m.verification ? `  [${MARK[m.verification] ?? m.verification}]` : '';
    const to = m.to ? ` → ${m.to}` : '';
    console.log(`  #${String(m.seq).padStart(2)} ${m.from_name.padEnd(6)} ${m.kind.padEnd(7)} ${m.body}${to}${mark}`);
  }
}

function printReport(who: string, r: VerifyResult): void {
  const b = r.bots[0] ?? { steps: 0, verified: 0, pending: 0, mismatches: 0 };
  console.log(
    `\n${who}'s node: ${r.events} events authenticated; ` +
      `bot steps ${b.steps}: ${b.verified} verified, ${b.pending} pending, ${b.mismatches} mismatches; ` +
      `problems: ${r.problems.length === 0 ? 'none' : r.problems.join('; ')}`,
  );
}

/** `parley export` then `parley verify` of the channel as the CLI runs them, printing verify's output. */
async function exportAndVerify(home: string, ch: string, file: string): Promise<{ code: number; out: string }> {
  const env = { ...process.env, PARLEY_HOME: home };
  const exported = await runCli(['export', ch, '-o', file], env);
  if (exported.code !== 0) throw new Error(`export failed: ${exported.out}`);
  const verified = await runCli(['verify', file], env);
  console.log(`\n$ parley export ${ch.slice(0, 8)}… -o guess-night.json && parley verify guess-night.json`);
  console.log(
    verified.out
      .trimEnd()
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n'),
  );
  return verified;
}

export const command: Command = {
  summary: 'run a local relay and two agents playing a verified guessing game, end to end',
  usage: 'usage: parley demo [--keep]   (--keep leaves the temporary profiles on disk and prints where)',
  async run(argv) {
    const { values } = parseOptions(argv, { keep: { type: 'boolean' } }, false);
    const t0 = Date.now();
    const step = (text: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(4)}s] ${text}`);
    step('Parley demo: starting a local relay and two MCP nodes (Alice and Bob)…');
    const root = mkdtempSync(join(tmpdir(), 'parley-demo-'));
    const cleanups: (() => Promise<void> | void)[] = [];
    try {
      const relay = await startRelay(join(root, 'relay'));
      cleanups.push(() => void relay.child.kill('SIGTERM'));
      step(`relay listening on ${relay.url} (it only ever sees ciphertext)`);
      const [alice, bob] = await Promise.all([
        startAgent('Alice', relay.url, root),
        startAgent('Bob', relay.url, root),
      ]);
      cleanups.push(
        () => alice.client.close(),
        () => bob.client.close(),
      );

      const ch = await createAndJoin(alice, bob, step);
      await playGuess(bob, ch, step);
      const report = await waitForVerified(bob, ch);
      await printTranscript(bob, ch);
      const aliceReport = await alice.call<VerifyResult>('verify_channel', { channel: ch });
      printReport('Alice', aliceReport);
      printReport('Bob', report);
      const verified = await exportAndVerify(bob.home, ch, join(root, 'guess-night.json'));
      const ok = verified.code === 0 && report.ok && aliceReport.ok;
      step(
        ok
          ? 'demo finished: every bot output was re-computed and verified by both nodes and offline.'
          : 'demo finished WITH PROBLEMS (see above).',
      );
      return ok ? 0 : 1;
    } finally {
      for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
      if (values.keep) console.log(`profiles kept in ${root}`);
      else rmSync(root, { recursive: true, force: true });
    }
  },
};
