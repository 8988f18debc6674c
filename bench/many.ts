/**
 * `npm run bench -- many [--sizes 100,1000,3000] [--messages 20] [--idle 60] [--settle 30]`: one node in N channels
 * on one relay (each channel with `messages` posts). For each N, the node is restarted three times and measured: time
 * from spawning `parley mcp` to its first tool answer and to every channel synced (medians), then, after the last
 * restart, its RSS, the sockets it holds to the relay, and the CPU the node and the relay use while idle for `idle`
 * seconds, starting `settle` seconds after start-up. The baseline is the same node with no channels, measured in the
 * same run: RSS per channel is over it, idle CPU is shown beside it.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { Cleanup } from './lib/cleanup.js';
import { startNode, type BenchNode } from './lib/mcp.js';
import { startBenchRelay, type BenchRelay } from './lib/relays.js';
import { processCpuMs } from './lib/proc-cpu.js';
import { printTable } from './lib/table.js';
import { fmt } from './util.js';

interface Row {
  n: number;
  firstAnswerMs: number;
  allSyncedMs: number;
  rssMb: number;
  sockets: number;
  /** Channels the node started dormant (node/dormant.ts), from its ready line. */
  dormant: number;
  nodeIdleCpuMs: number;
  relayIdleCpuMs: number;
}

const rssMb = (pid: number | null): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

async function relaySockets(relay: BenchRelay): Promise<number> {
  const text = await (await fetch(relay.url.replace(/^ws/, 'http') + '/metrics')).text();
  return Number(/^parley_relay_connections (\d+)$/m.exec(text)?.[1] ?? NaN);
}

async function waitFor<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    // A full list of thousands of channels is itself work for the node: ask twice a second, not more.
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Every channel's room on the relay finished its sync, read through list_channels a page at a time. */
async function allSynced(node: BenchNode, n: number): Promise<boolean> {
  type Listed = { channels: { relays: { synced?: boolean }[] }[] };
  for (let offset = 0; offset < n; offset += 1000) {
    const page = await node.call<Listed>('list_channels', { detail: 'full', limit: 1000, offset });
    if (!page.channels.every((c) => c.relays[0].synced)) return false;
  }
  return true;
}

/** Seconds to wait after start-up before the idle window, and the idle window. */
interface Windows {
  settleS: number;
  idleS: number;
}

/** Restarts per measurement: the first answer and the sync are the median of these (one sample is noise here). */
const RESTARTS = 3;

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

/** Starts the node on `home`: its first answer (from spawning it) and, for N channels, when all are synced. */
async function restart(cleanup: Cleanup, relay: BenchRelay, home: string, n: number) {
  const t0 = performance.now();
  const node = await startNode(cleanup, { relays: [relay.url], home });
  const listed = await node.call<{ total: number }>('list_channels');
  const firstAnswerMs = performance.now() - t0;
  if (listed.total !== n) throw new Error(`expected ${n} channels, listed ${listed.total}`);
  await waitFor(
    () => allSynced(node, n),
    (ok) => ok,
    300_000,
  );
  return { node, firstAnswerMs, allSyncedMs: n === 0 ? firstAnswerMs : performance.now() - t0 };
}

/** Restarts the node on `home` RESTARTS times and measures it; the last run also idles. */
async function measure(
  cleanup: Cleanup,
  relay: BenchRelay,
  home: string,
  n: number,
  { idleS, settleS }: Windows,
): Promise<Row> {
  const runs: Awaited<ReturnType<typeof restart>>[] = [];
  for (let i = 0; i < RESTARTS; i++) {
    if (i > 0) await runs[i - 1].node.close();
    runs.push(await restart(cleanup, relay, home, n));
  }
  const { node } = runs[RESTARTS - 1];
  // Let start-up work settle before the idle window: compaction, the open thread, and the garbage collections V8
  // runs for a while after start-up (they cost in proportion to what start-up allocated, so they grow with N).
  await new Promise((r) => setTimeout(r, settleS * 1000));
  const row = await idle(node, relay, idleS);
  const dormant = n === 0 ? 0 : Number(/started, (\d+) dormant/.exec(node.stderr())?.[1] ?? NaN);
  await node.close();
  const firstAnswerMs = median(runs.map((r) => r.firstAnswerMs));
  return { n, firstAnswerMs, allSyncedMs: median(runs.map((r) => r.allSyncedMs)), dormant, ...row };
}

async function idle(node: BenchNode, relay: BenchRelay, idleS: number) {
  const cpu0 = processCpuMs(node.pid)!;
  const r0 = (await relay.stats()).cpuMs;
  await new Promise((r) => setTimeout(r, idleS * 1000));
  return {
    nodeIdleCpuMs: processCpuMs(node.pid)! - cpu0,
    relayIdleCpuMs: (await relay.stats()).cpuMs - r0,
    rssMb: rssMb(node.pid),
    sockets: await relaySockets(relay),
  };
}

// Long: a benchmark script: set up, measure, print, in the order its output reads.
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      sizes: { type: 'string' },
      messages: { type: 'string' },
      idle: { type: 'string' },
      settle: { type: 'string' },
    },
    strict: true,
  });
  const sizes = (values.sizes ?? '100,1000,3000').split(',').map(Number);
  const messages = Number(values.messages ?? 20);
  const idleS = Number(values.idle ?? 60);
  const settleS = Number(values.settle ?? 30);
  const windows = { idleS, settleS };
  const badSizes = sizes.some((n) => !Number.isInteger(n) || n < 1);
  if (badSizes || !Number.isInteger(messages) || messages < 0 || !(idleS > 0) || !(settleS >= 0)) {
    throw new Error(
      '--sizes takes positive whole numbers separated by commas, --messages a whole number, --idle and --settle ' +
        'seconds',
    );
  }
  const cleanup = new Cleanup();
  try {
    const rows: Row[] = [];
    // Baseline: the same node with no channel, on its own relay.
    {
      const relay = await startBenchRelay('parley', cleanup);
      rows.push(await measure(cleanup, relay, cleanup.tempDir('parley-bench-many-'), 0, windows));
      await relay.close();
    }
    for (const n of sizes) {
      const relay = await startBenchRelay('parley', cleanup);
      const home = cleanup.tempDir('parley-bench-many-');
      const setup = await startNode(cleanup, { relays: [relay.url], home });
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const { channel } = await setup.call<{ channel: string }>('create_channel', { name: `channel ${i}` });
        for (let k = 0; k < messages; k++)
          await setup.call('post_message', { channel, body: `message ${k} in channel ${i}` });
        if ((i + 1) % 100 === 0)
          process.stderr.write(`\rsetting up ${n} channels: ${i + 1} (${fmt((performance.now() - t0) / 1000, 0)} s)`);
      }
      process.stderr.write('\n');
      await setup.close();
      rows.push(await measure(cleanup, relay, home, n, windows));
      await relay.close();
    }
    const base = rows[0];
    console.log(
      `one node in N channels on one relay, ${messages} messages each; idle window ${idleS} s from ${settleS} s ` +
        'after start-up; baseline = the node with no channel',
    );
    printTable([
      [
        'channels',
        'first answer ms',
        'all synced s',
        'dormant',
        'node RSS MB',
        'KB / channel',
        'sockets',
        'node idle CPU %',
        'relay idle CPU %',
        'node idle CPU ÷ baseline',
      ],
      ...rows.map((r) => [
        r.n === 0 ? '0 (baseline)' : String(r.n),
        fmt(r.firstAnswerMs, 0),
        fmt(r.allSyncedMs / 1000, 2),
        String(r.dormant),
        fmt(r.rssMb, 0),
        r.n === 0 ? '-' : fmt(((r.rssMb - base.rssMb) * 1024) / r.n, 1),
        String(r.sockets),
        fmt((100 * r.nodeIdleCpuMs) / (idleS * 1000), 2),
        fmt((100 * r.relayIdleCpuMs) / (idleS * 1000), 2),
        fmt(r.nodeIdleCpuMs / Math.max(base.nodeIdleCpuMs, 1), 2),
      ]),
    ]);
  } finally {
    await cleanup.run();
  }
}
