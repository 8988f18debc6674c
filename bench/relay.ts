/**
 * `npm run bench -- relay [--clients 16] [--rooms 4] [--entries 200] [--window 8] [--batch 1] [--repeat 3] [--profile]`
 *
 * Relay fan-out: K stock y-websocket clients push sealed-sized entries (300 random bytes, key = contentId(value))
 * into Y.Map('log'), first all in one room, then spread over M rooms; every client receives every other client's
 * entries of its room. The same workload runs against the Parley relay and against the plain y-protocols relay
 * (bench/lib/plain-relay.ts), each in its own process, and the ratio parley/plain is printed.
 *
 *   fan-out events/s = entries received by all clients / wall time (first send → last receipt)
 *   latency          = receipt time − send time embedded in the value's first 8 bytes (one clock: one process)
 *
 * Flow control: a client keeps at most --window of its own entries not yet received by every peer of its room, so
 * the run measures sustained throughput with bounded queues, and latency under that load (not a burst's backlog).
 * Entries per client stay below the Parley relay's per-connection burst (2000 messages, 500/s sustained); larger
 * runs should raise --batch (entries per Yjs transaction = per message).
 */
import { ready } from '../protocol/sodium.js';
import { newEpochKey, roomKeyPair } from '../protocol/keys.js';
import { fmt, summarize } from './util.js';
import { intOptions } from './lib/args.js';
import { printTable } from './lib/table.js';
import { Cleanup } from './lib/cleanup.js';
import { monotonicUs, summarizeProfileDir, type Window } from './lib/cpuprof.js';
import { readStamp, stampedEntry } from './lib/entries.js';
import { relayLabel, startBenchRelay, type RelayKind } from './lib/relays.js';
import { connectYClient, type YClient } from './lib/yclient.js';

interface Options {
  flags: Set<string>;
  clients: number;
  rooms: number;
  entries: number;
  window: number;
  batch: number;
  repeat: number;
}

interface RunResult {
  kind: RelayKind;
  entries: number;
  deliveries: number;
  wallMs: number;
  eventsPerSec: number;
  p50: number;
  p99: number;
  relayCpuMs: number;
  benchCpuMs: number;
  closes: number;
  refused: Record<string, number>;
  window: Window;
}

const RUN_TIMEOUT_MS = 120_000;

async function runWorkload(kind: RelayKind, rooms: number, entries: number, o: Options, profDir: string | null = null): Promise<RunResult> {
  const cleanup = new Cleanup();
  try {
    const relay = await startBenchRelay(kind, cleanup, profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []);
    const keys = Array.from({ length: rooms }, () => newEpochKey());
    const roomOf = (i: number) => i % rooms;
    const clients: YClient[] = [];
    for (let i = 0; i < o.clients; i++) {
      const key = keys[roomOf(i)];
      const c = connectYClient(relay.url, roomKeyPair(key).room, kind === 'parley' ? key : null);
      cleanup.add(() => c.close());
      clients.push(c);
    }
    await Promise.all(clients.map((c) => c.synced()));

    const peers = clients.map((_, i) => clients.map((_, j) => j).filter((j) => j !== i && roomOf(j) === roomOf(i)));
    // received[r][s]: entries of sender s that receiver r has seen.
    const received = clients.map(() => new Array<number>(o.clients).fill(0));
    const expected = peers.reduce((n, p) => n + p.length * entries, 0);
    const latencies = new Float64Array(expected);
    let total = 0;
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    const wakers = new Map<number, () => void>();

    clients.forEach((c, r) => {
      c.log.observe((event, tx) => {
        if (tx.local) return;
        const now = performance.now();
        for (const key of event.keysChanged) {
          const value = c.log.get(key);
          if (!(value instanceof Uint8Array)) continue;
          const { stamp, sender } = readStamp(value);
          latencies[total++] = now - stamp;
          received[r][sender]++;
          const wake = wakers.get(sender);
          if (wake) {
            wakers.delete(sender);
            wake();
          }
        }
        if (total >= expected) finish();
      });
    });

    const outstanding = (s: number, sent: number) => {
      let slowest = sent;
      for (const r of peers[s]) slowest = Math.min(slowest, received[r][s]);
      return sent - slowest;
    };
    const sender = async (s: number) => {
      const c = clients[s];
      let sent = 0;
      while (sent < entries) {
        if (outstanding(s, sent) >= o.window) {
          await new Promise<void>((r) => wakers.set(s, r));
          continue;
        }
        const n = Math.min(o.batch, entries - sent);
        c.doc.transact(() => {
          for (let k = 0; k < n; k++) {
            const { key, value } = stampedEntry(s);
            c.log.set(key, value);
          }
        });
        sent += n;
      }
    };

    const relayBefore = await relay.stats();
    const cpuBefore = process.cpuUsage();
    const fromUs = monotonicUs();
    const start = performance.now();
    const senders = Promise.all(clients.map((_, s) => sender(s)));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const closes = clients.flatMap((c) => c.closes.map((x) => `${x.code} ${x.reason}`));
        reject(new Error(`${kind}: ${total}/${expected} deliveries after ${RUN_TIMEOUT_MS} ms; server closes: ${closes.join(', ') || 'none'}`));
      }, RUN_TIMEOUT_MS);
    });
    await Promise.race([Promise.all([done, senders]), timeout]).finally(() => clearTimeout(timer));
    const wallMs = performance.now() - start;
    const window = { label: 'samples during the measured run', fromUs, toUs: monotonicUs() };
    const cpu = process.cpuUsage(cpuBefore);
    const relayAfter = await relay.stats();
    const lat = summarize(Array.from(latencies));
    return {
      kind,
      entries: entries * o.clients,
      deliveries: total,
      wallMs,
      eventsPerSec: (total / wallMs) * 1000,
      p50: lat.p50,
      p99: lat.p99,
      relayCpuMs: relayAfter.cpuMs - relayBefore.cpuMs,
      benchCpuMs: (cpu.user + cpu.system) / 1000,
      closes: clients.reduce((n, c) => n + c.closes.length, 0),
      refused: relayAfter.refused,
      window,
    };
  } finally {
    await cleanup.run();
  }
}

/**
 * Entries per client in the spread scenario: as many deliveries as the one-room run (fewer peers per room receive
 * each entry), so both runs last long enough to measure, capped below the Parley relay's per-connection burst.
 */
function spreadEntries(o: Options): number {
  const perRoom = Math.floor(o.clients / o.rooms);
  const scaled = Math.round((o.entries * (o.clients - 1)) / (perRoom - 1));
  return Math.max(o.entries, Math.min(scaled, 1900 * o.batch));
}

const median = (xs: number[]) => summarize(xs).p50;

function pick(runs: RunResult[]): RunResult {
  // The run with the median throughput, so its latency and CPU figures belong to one real run.
  const sorted = [...runs].sort((a, b) => a.eventsPerSec - b.eventsPerSec);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** Runs one scenario --repeat times against each relay, prints its table and ratios; returns the throughput ratio. */
async function runScenario(sc: { label: string; rooms: number; entries: number }, o: Options, outer: Cleanup): Promise<number> {
  const profiles: (() => void)[] = [];
  const runs: Record<RelayKind, RunResult[]> = { plain: [], parley: [] };
  for (let rep = 0; rep < o.repeat; rep++) {
    // Alternate which relay goes first so warm-up and drift do not favour one of them.
    const order: RelayKind[] = rep % 2 === 0 ? ['plain', 'parley'] : ['parley', 'plain'];
    for (const kind of order) {
      // --profile: the Parley relay process of the last repetition runs under --cpu-prof.
      const profDir = o.flags.has('profile') && kind === 'parley' && rep === o.repeat - 1 ? outer.tempDir('parley-bench-prof-') : null;
      runs[kind].push(await runWorkload(kind, sc.rooms, sc.entries, o, profDir));
      if (profDir) profiles.push(() => summarizeProfileDir(profDir, 20, runs.parley.at(-1)!.window));
    }
  }
  const base = pick(runs.plain);
  const parley = pick(runs.parley);
  console.log(`\n${sc.label}: ${sc.entries} entries per client, ${base.entries} entries, ${base.deliveries} deliveries per run`);
  const head = ['', 'events/s', 'p50 ms', 'p99 ms', 'wall ms', 'relay CPU ms', 'relay CPU µs/entry', 'clients CPU ms'];
  const row = (r: RunResult) => [
    relayLabel(r.kind), fmt(r.eventsPerSec, 0), fmt(r.p50), fmt(r.p99), fmt(r.wallMs, 0), fmt(r.relayCpuMs, 0),
    fmt((r.relayCpuMs * 1000) / r.entries, 1), fmt(r.benchCpuMs, 0),
  ];
  printTable([head, row(base), row(parley)]);
  // Paired ratio per repetition (the two runs of a pair are adjacent in time, so they share the machine's mood),
  // then the median: one noisy run cannot swing it.
  const paired = runs.parley.map((r, i) => r.eventsPerSec / runs.plain[i].eventsPerSec);
  const tput = median(paired);
  console.log(
    `ratio parley/baseline: throughput ${fmt(tput)}× (median of per-run ratios ${paired.map((x) => fmt(x)).join(', ')}; target ≥ 0.80×), ` +
      `p50 ${fmt(parley.p50 / base.p50)}×, p99 ${fmt(parley.p99 / base.p99)}×, relay CPU per entry ${fmt(median(runs.parley.map((r) => r.relayCpuMs)) / median(runs.plain.map((r) => r.relayCpuMs)))}× (median of runs)`,
  );
  const trouble = [...runs.parley, ...runs.plain].filter((r) => r.closes > 0 || Object.keys(r.refused).length > 0);
  for (const r of trouble) console.log(`  note: ${relayLabel(r.kind)} closed ${r.closes} connection(s); refused ${JSON.stringify(r.refused)}`);
  for (const show of profiles) show();
  return tput;
}

export async function main(args: string[]): Promise<void> {
  const o: Options = intOptions(args, { clients: 16, rooms: 4, entries: 200, window: 8, batch: 1, repeat: 3 }, ['profile']);
  if (o.clients < 2 || o.clients > 200) throw new Error('--clients must be 2-200 (the Parley relay allows 256 connections per IP)');
  if (o.rooms < 1 || o.clients < 2 * o.rooms) throw new Error('--rooms must be at least 1 and leave at least 2 clients per room');
  if (o.entries < 1 || o.window < 1 || o.batch < 1 || o.repeat < 1) throw new Error('--entries, --window, --batch and --repeat must be positive');
  if (o.entries / o.batch > 1900) console.warn(`warning: ${Math.ceil(o.entries / o.batch)} messages per client exceeds the Parley relay's burst of 2000; raise --batch`);
  await ready();

  console.log(`relay fan-out: ${o.clients} stock y-websocket clients, entries of 300 B (key = contentId), window ${o.window}, batch ${o.batch}, ${o.repeat} run(s) per relay (median shown)`);
  const scenarios = [
    { label: `${o.clients} clients in 1 room`, rooms: 1, entries: o.entries },
    ...(o.rooms > 1 ? [{ label: `${o.clients} clients over ${o.rooms} rooms`, rooms: o.rooms, entries: spreadEntries(o) }] : []),
  ];
  const ratios: { label: string; tput: number }[] = [];
  const outer = new Cleanup();
  try {
    for (const sc of scenarios) ratios.push({ label: sc.label, tput: await runScenario(sc, o, outer) });
  } finally {
    await outer.run();
  }
  console.log('');
  for (const r of ratios) console.log(`throughput parley/baseline, ${r.label}: ${fmt(r.tput)}× ${r.tput >= 0.8 ? '(meets ≥ 0.8×)' : '(BELOW the 0.8× target)'}`);
}
