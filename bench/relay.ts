/**
 * `npm run bench -- relay [--clients 16] [--rooms 4] [--entries 200] [--window 8] [--batch 1] [--repeat 3] [--profile]
 *                         [--store postgres]`
 *
 * Relay fan-out: K stock y-websocket clients push sealed-sized entries (300 random bytes, key = contentId(value))
 * into Y.Map('log'), first all in one room, then spread over M rooms; every client receives every other client's
 * entries of its room. The same workload runs against the Parley relay, against the plain y-protocols relay
 * (bench/lib/plain-relay.ts) and against a real peer server, Hocuspocus (bench/lib/hocuspocus-relay.ts; the same
 * client code speaks its protocol through bench/lib/hocuspocus-socket.ts), each in its own process, and the ratios
 * parley/plain and parley/Hocuspocus (throughput and relay CPU per entry) are printed.
 *
 *   fan-out events/s = entries received by all clients / wall time (first send → last receipt)
 *   latency          = receipt time − send time embedded in the value's first 8 bytes (one clock: one process)
 *
 * Flow control: a client keeps at most --window of its own entries not yet received by every peer of its room, so
 * the run measures sustained throughput with bounded queues, and latency under that load (not a burst's backlog).
 * Entries per client stay below the Parley relay's per-connection burst (2000 messages, 500/s sustained); larger
 * runs should raise --batch (entries per Yjs transaction = per message).
 *
 * --store postgres: the same run also measures the Parley relay on PostgreSQL (a throwaway cluster the bench starts,
 * default durability settings, a fresh database per run), as one instance and as two instances on one database with
 * client i connected to instance i mod 2 (what a round-robin balancer does), beside the SQLite relay; for the two
 * instances it also reports cross-instance delivery latency (sender and receiver on different instances).
 *
 * Over 400 lines: the three setups (Parley, the plain baseline, Hocuspocus) share one workload, one scenario
 * runner and one report.
 */
import { ready } from '../protocol/sodium.js';
import { newEpochKey, roomKeyPair } from '../protocol/keys.js';
import { fmt, summarize } from './util.js';
import { intOptions } from './lib/args.js';
import { printTable } from './lib/table.js';
import { Cleanup } from './lib/cleanup.js';
import { monotonicUs, summarizeProfileDir, type Window } from './lib/cpuprof.js';
import { readStamp, stampedEntry } from './lib/entries.js';
import { startBenchRelay, type BenchRelay } from './lib/relays.js';
import { startPostgres, type TestPostgres } from '../dev/postgres.js';
import { connectYClient, type YClient } from './lib/yclient.js';

/**
 * What serves the clients: the plain baseline, Hocuspocus, the Parley relay on SQLite, on PostgreSQL, or two on one
 * PostgreSQL.
 */
type Setup = 'plain' | 'hocuspocus' | 'parley' | 'pg' | 'pg2';

const LABELS: Record<Setup, string> = {
  plain: 'plain y-protocols relay',
  hocuspocus: 'Hocuspocus 4 server',
  parley: 'parley relay (SQLite)',
  pg: 'parley relay (PostgreSQL)',
  pg2: 'parley relay ×2 (PostgreSQL)',
};

interface Options {
  flags: Set<string>;
  /** Set with --store postgres: the cluster the PostgreSQL setups use. */
  pg: TestPostgres | null;
  clients: number;
  rooms: number;
  entries: number;
  window: number;
  batch: number;
  repeat: number;
}

interface RunResult {
  kind: Setup;
  entries: number;
  deliveries: number;
  wallMs: number;
  eventsPerSec: number;
  p50: number;
  p99: number;
  /** Deliveries between clients of different instances (pg2 only). */
  cross: { p50: number; p99: number; n: number } | null;
  relayCpuMs: number;
  benchCpuMs: number;
  closes: number;
  refused: Record<string, number>;
  window: Window;
}

const RUN_TIMEOUT_MS = 120_000;

async function startSetup(kind: Setup, o: Options, cleanup: Cleanup, profDir: string | null): Promise<BenchRelay[]> {
  const execArgv = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [];
  if (kind === 'plain' || kind === 'parley' || kind === 'hocuspocus')
    return [await startBenchRelay(kind, cleanup, execArgv)];
  const store = await o.pg!.createDatabase();
  const first = await startBenchRelay('parley', cleanup, execArgv, store);
  return kind === 'pg' ? [first] : [first, await startBenchRelay('parley', cleanup, [], store)];
}

// Long: one timed workload: clients, writers, readers and the tallies they share.
async function runWorkload(
  kind: Setup,
  rooms: number,
  entries: number,
  o: Options,
  profDir: string | null = null,
): Promise<RunResult> {
  const cleanup = new Cleanup();
  try {
    const relays = await startSetup(kind, o, cleanup, profDir);
    const instanceOf = (i: number) => i % relays.length;
    const keys = Array.from({ length: rooms }, () => newEpochKey());
    // Clients alternate over rooms in blocks, so that with two instances each room has clients on both.
    const roomOf = (i: number) => Math.floor(i / relays.length) % rooms;
    const clients: YClient[] = [];
    for (let i = 0; i < o.clients; i++) {
      const key = keys[roomOf(i)];
      const unauthenticated = kind === 'plain' || kind === 'hocuspocus';
      const c = connectYClient(
        relays[instanceOf(i)].url,
        roomKeyPair(key).room,
        unauthenticated ? null : key,
        kind === 'hocuspocus',
      );
      cleanup.add(() => c.close());
      clients.push(c);
    }
    await Promise.all(clients.map((c) => c.synced()));

    const peers = clients.map((_, i) => clients.map((_, j) => j).filter((j) => j !== i && roomOf(j) === roomOf(i)));
    // received[r][s]: entries of sender s that receiver r has seen.
    const received = clients.map(() => new Array<number>(o.clients).fill(0));
    const expected = peers.reduce((n, p) => n + p.length * entries, 0);
    const latencies = new Float64Array(expected);
    const crossLatencies: number[] = [];
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
          if (instanceOf(sender) !== instanceOf(r)) crossLatencies.push(now - stamp);
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

    const stats = async () => {
      const all = await Promise.all(relays.map((r) => r.stats()));
      const refused: Record<string, number> = {};
      for (const s of all) for (const [k, v] of Object.entries(s.refused)) refused[k] = (refused[k] ?? 0) + v;
      return { cpuMs: all.reduce((n, s) => n + s.cpuMs, 0), refused };
    };
    const relayBefore = await stats();
    const cpuBefore = process.cpuUsage();
    const fromUs = monotonicUs();
    const start = performance.now();
    const senders = Promise.all(clients.map((_, s) => sender(s)));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const closes = clients.flatMap((c) => c.closes.map((x) => `${x.code} ${x.reason}`));
        reject(
          new Error(
            `${kind}: ${total}/${expected} deliveries after ${RUN_TIMEOUT_MS} ms; server ` +
              `closes: ${closes.join(', ') || 'none'}`,
          ),
        );
      }, RUN_TIMEOUT_MS);
    });
    await Promise.race([Promise.all([done, senders]), timeout]).finally(() => clearTimeout(timer));
    const wallMs = performance.now() - start;
    const window = { label: 'samples during the measured run', fromUs, toUs: monotonicUs() };
    const cpu = process.cpuUsage(cpuBefore);
    const relayAfter = await stats();
    const lat = summarize(Array.from(latencies));
    const cross = crossLatencies.length > 0 ? { ...summarize(crossLatencies), n: crossLatencies.length } : null;
    return {
      kind,
      entries: entries * o.clients,
      deliveries: total,
      wallMs,
      eventsPerSec: (total / wallMs) * 1000,
      p50: lat.p50,
      p99: lat.p99,
      cross,
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

interface ScenarioResult {
  label: string;
  /** Parley (SQLite) / plain baseline. */
  tput: number;
  /** Parley (SQLite) / Hocuspocus: throughput, and relay CPU per entry (medians of the per-repetition ratios). */
  hp: number;
  hpCpu: number;
  /** PostgreSQL setups / Parley on SQLite, paired per repetition (with --store postgres). */
  pg?: number;
  pg2?: number;
  cross?: { p50: number; p99: number } | null;
}

/** Runs one scenario --repeat times against each setup, prints its table and ratios. */
// Long: a benchmark scenario: run each setup, then print its table and ratios in order.
async function runScenario(
  sc: { label: string; rooms: number; entries: number },
  o: Options,
  outer: Cleanup,
): Promise<ScenarioResult> {
  const profiles: (() => void)[] = [];
  const setups: Setup[] = o.pg ? ['plain', 'hocuspocus', 'parley', 'pg', 'pg2'] : ['plain', 'hocuspocus', 'parley'];
  const runs: Record<Setup, RunResult[]> = { plain: [], hocuspocus: [], parley: [], pg: [], pg2: [] };
  for (let rep = 0; rep < o.repeat; rep++) {
    // Alternate the order so warm-up and drift do not favour one of them.
    const order = rep % 2 === 0 ? setups : [...setups].reverse();
    for (const kind of order) {
      // --profile: the Parley relay process of the last repetition runs under --cpu-prof.
      const profDir =
        o.flags.has('profile') && kind === 'parley' && rep === o.repeat - 1
          ? outer.tempDir('parley-bench-prof-')
          : null;
      runs[kind].push(await runWorkload(kind, sc.rooms, sc.entries, o, profDir));
      if (profDir) profiles.push(() => summarizeProfileDir(profDir, 20, runs.parley.at(-1)!.window));
    }
  }
  const base = pick(runs.plain);
  const parley = pick(runs.parley);
  console.log(
    `\n${sc.label}: ${sc.entries} entries per client, ${base.entries} entries, ${base.deliveries} deliveries per run`,
  );
  const head = ['', 'events/s', 'p50 ms', 'p99 ms', 'wall ms', 'relay CPU ms', 'relay CPU µs/entry', 'clients CPU ms'];
  const row = (r: RunResult) => [
    LABELS[r.kind],
    fmt(r.eventsPerSec, 0),
    fmt(r.p50),
    fmt(r.p99),
    fmt(r.wallMs, 0),
    fmt(r.relayCpuMs, 0),
    fmt((r.relayCpuMs * 1000) / r.entries, 1),
    fmt(r.benchCpuMs, 0),
  ];
  printTable([head, ...setups.map((k) => row(pick(runs[k])))]);
  // Paired ratio per repetition (the runs of a repetition are adjacent in time, so they share the machine's mood),
  // then the median: one noisy run cannot swing it.
  const paired = (k: Setup, over: Setup) => runs[k].map((r, i) => r.eventsPerSec / runs[over][i].eventsPerSec);
  const tputs = paired('parley', 'plain');
  const tput = median(tputs);
  console.log(
    `ratio parley/baseline: throughput ${fmt(tput)}× (median of per-run ` +
      `ratios ${tputs.map((x) => fmt(x)).join(', ')}; target ≥ 0.80×), ` +
      `p50 ${fmt(parley.p50 / base.p50)}×, p99 ${fmt(parley.p99 / base.p99)}×, relay CPU per ` +
      `entry ${fmt(median(runs.parley.map((r) => r.relayCpuMs)) / median(runs.plain.map((r) => r.relayCpuMs)))}× ` +
      `(median of runs)`,
  );
  const hps = paired('parley', 'hocuspocus');
  const hpCpus = runs.parley.map(
    (r, i) => r.relayCpuMs / r.entries / (runs.hocuspocus[i].relayCpuMs / runs.hocuspocus[i].entries),
  );
  const hp = pick(runs.hocuspocus);
  const result: ScenarioResult = { label: sc.label, tput, hp: median(hps), hpCpu: median(hpCpus) };
  console.log(
    `ratio parley/Hocuspocus: throughput ${fmt(result.hp)}× (per run ${hps.map((x) => fmt(x)).join(', ')}; ` +
      `target ≥ 1.00×), ` +
      `p50 ${fmt(parley.p50 / hp.p50)}×, p99 ${fmt(parley.p99 / hp.p99)}×, relay CPU per ` +
      `entry ${fmt(result.hpCpu)}× (per run ${hpCpus.map((x) => fmt(x)).join(', ')}; target ≤ 1.00×)`,
  );
  if (o.pg) {
    const pg = paired('pg', 'parley');
    const pg2 = paired('pg2', 'parley');
    result.pg = median(pg);
    result.pg2 = median(pg2);
    const two = pick(runs.pg2);
    result.cross = two.cross;
    console.log(
      `ratio PostgreSQL/SQLite: one instance ${fmt(result.pg)}× (per run ${pg.map((x) => fmt(x)).join(', ')}; ` +
        `target ≥ 0.50×), ` +
        `two instances ${fmt(result.pg2)}× (per run ${pg2.map((x) => fmt(x)).join(', ')})`,
    );
    if (two.cross) {
      console.log(
        `cross-instance delivery under this load (post on A → receive on B): p50 ${fmt(two.cross.p50)} ms, ` +
          `p99 ${fmt(two.cross.p99)} ms over ${two.cross.n} deliveries`,
      );
    }
  }
  const trouble = setups.flatMap((k) => runs[k]).filter((r) => r.closes > 0 || Object.keys(r.refused).length > 0);
  for (const r of trouble)
    console.log(`  note: ${LABELS[r.kind]} closed ${r.closes} connection(s); refused ${JSON.stringify(r.refused)}`);
  for (const show of profiles) show();
  return result;
}

const PROBES = 300;

/**
 * Delivery latency without load: a writer posts one entry at a time and waits until the reader has it. Writer and
 * reader on the one SQLite relay, on one PostgreSQL instance, and on two PostgreSQL instances (post on A, receive on
 * B: the commit, NOTIFY, read-back path).
 */
async function probeLatency(o: Options): Promise<{ label: string; p50: number; p99: number }[]> {
  const out: { label: string; p50: number; p99: number }[] = [];
  const cases: [string, Setup][] = [
    ['SQLite relay, same instance', 'parley'],
    ['PostgreSQL, same instance', 'pg'],
    ['PostgreSQL, A → B', 'pg2'],
  ];
  for (const [label, kind] of cases) {
    const cleanup = new Cleanup();
    try {
      const relays = await startSetup(kind, o, cleanup, null);
      const key = newEpochKey();
      const room = roomKeyPair(key).room;
      const writer = connectYClient(relays[0].url, room, key);
      const reader = connectYClient(relays[relays.length - 1].url, room, key);
      cleanup.add(() => writer.close());
      cleanup.add(() => reader.close());
      await Promise.all([writer.synced(), reader.synced()]);
      let arrived: (() => void) | null = null;
      reader.log.observe(() => arrived?.());
      const samples: number[] = [];
      for (let i = 0; i < PROBES; i++) {
        const { key: k, value } = stampedEntry(0);
        const got = new Promise<void>((r) => (arrived = r));
        const t0 = performance.now();
        writer.log.set(k, value);
        await got;
        samples.push(performance.now() - t0);
      }
      const { p50, p99 } = summarize(samples.slice(20));
      out.push({ label, p50, p99 });
    } finally {
      await cleanup.run();
    }
  }
  console.log(`\ndelivery latency without load (${PROBES} entries one at a time, first 20 dropped as warm-up):`);
  printTable([['', 'p50 ms', 'p99 ms'], ...out.map((r) => [r.label, fmt(r.p50), fmt(r.p99)])]);
  return out;
}

/** `--store postgres` is the one non-integer option; the rest go to intOptions. */
function storeOption(args: string[]): { store: string | null; rest: string[] } {
  const rest: string[] = [];
  let store: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const m = /^--store(?:=(.*))?$/.exec(args[i]);
    if (!m) rest.push(args[i]);
    else store = m[1] ?? args[++i] ?? '';
  }
  if (store !== null && store !== 'postgres')
    throw new Error(`--store takes "postgres" (a throwaway cluster the bench starts), got "${store}"`);
  return { store, rest };
}

// Long: a benchmark script: set up, measure, print, in the order its output reads.
export async function main(args: string[]): Promise<void> {
  const { store, rest } = storeOption(args);
  const o: Options = {
    ...intOptions(rest, { clients: 16, rooms: 4, entries: 200, window: 8, batch: 1, repeat: 3 }, ['profile']),
    pg: null,
  };
  if (o.clients < 2 || o.clients > 200)
    throw new Error('--clients must be 2-200 (the Parley relay allows 256 connections per IP)');
  if (o.rooms < 1 || o.clients < 2 * o.rooms)
    throw new Error('--rooms must be at least 1 and leave at least 2 clients per room');
  if (o.entries < 1 || o.window < 1 || o.batch < 1 || o.repeat < 1)
    throw new Error('--entries, --window, --batch and --repeat must be positive');
  if (o.entries / o.batch > 1900)
    console.warn(
      `warning: ${Math.ceil(o.entries / o.batch)} messages per client exceeds the Parley relay's burst of ` +
        `2000; raise --batch`,
    );
  await ready();

  const outer = new Cleanup();
  try {
    if (store === 'postgres') {
      o.pg = await startPostgres();
      const pg = o.pg;
      outer.add(() => pg.stop());
    }
    console.log(
      `relay fan-out: ${o.clients} stock y-websocket clients (WebsocketProvider; through a protocol adapter for ` +
        `Hocuspocus), entries of 300 B (key = contentId), window ${o.window}, batch ${o.batch}, ${o.repeat} run(s) ` +
        `per relay (median shown)`,
    );
    if (o.pg)
      console.log(
        `PostgreSQL: a throwaway cluster on 127.0.0.1:${o.pg.port}, default settings (fsync on, synchronous_commit ` +
          `on); SQLite: WAL, synchronous = NORMAL`,
      );
    const scenarios = [
      { label: `${o.clients} clients in 1 room`, rooms: 1, entries: o.entries },
      ...(o.rooms > 1
        ? [{ label: `${o.clients} clients over ${o.rooms} rooms`, rooms: o.rooms, entries: spreadEntries(o) }]
        : []),
    ];
    const results: ScenarioResult[] = [];
    for (const sc of scenarios) results.push(await runScenario(sc, o, outer));
    const probes = o.pg ? await probeLatency(o) : [];
    console.log('');
    for (const r of results) {
      console.log(
        `throughput ` +
          `parley/baseline, ${r.label}: ${fmt(r.tput)}× ${
            r.tput >= 0.8 ? '(meets ≥ 0.8×)' : '(BELOW the ' + '0.8× target)'
          }`,
      );
      console.log(
        `parley (SQLite)/Hocuspocus, ${r.label}: ` +
          `throughput ${fmt(r.hp)}× ${r.hp >= 1 ? '(meets ≥ 1.0×)' : '(BELOW the 1.0× target)'}, ` +
          `relay CPU per entry ${fmt(r.hpCpu)}× ${r.hpCpu <= 1 ? '(meets ≤ 1.0×)' : '(ABOVE the 1.0× target)'}`,
      );
      if (r.pg !== undefined) {
        console.log(
          `throughput PostgreSQL/SQLite, ${r.label}: one ` +
            `instance ${fmt(r.pg)}× ${r.pg >= 0.5 ? '(meets ≥ 0.5×)' : '(BELOW the 0.5× target)'}, two ` +
            `instances ${fmt(r.pg2!)}×`,
        );
      }
      if (r.cross) console.log(`cross-instance p99 under full load, ${r.label}: ${fmt(r.cross.p99)} ms`);
    }
    const cross = probes.find((p) => p.label.includes('A → B'));
    if (cross)
      console.log(
        `cross-instance p99 without ` +
          `load: ${fmt(cross.p99)} ms ${cross.p99 <= 25 ? '(meets ≤ 25 ms)' : '(ABOVE the 25 ms target)'}`,
      );
  } finally {
    await outer.run();
  }
}
