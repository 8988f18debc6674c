/**
 * `npm run bench -- join [--events 100000] [--batch 1000] [--profile]`
 *
 * A node joining a channel with a long history: a real owner node creates the channel over MCP; this process then
 * appends --events chat messages by the owner (signed with the owner's identity from its profile, sealed with the
 * epoch key from the invite, chained seq/prev/lamport exactly as node/channel/authoring.ts `post` does) and pushes
 * them into the relay room with a stock Y.Doc client. A second `parley mcp` node then joins with the invite; we time
 *
 *   delivered  join_channel call → all events delivered in its store (download, decrypt, authenticate, deliver:
 *              what sync_messages serves; polled read-only from the node's SQLite, which does not touch the node)
 *   joined     join_channel call → join_channel returned (the owner is stopped, so the claim is not admitted: the
 *              joiner is started with PARLEY_JOIN_ADMIT_MS=0 and returns `pending` once the history is in)
 *   read       sync_messages pages (500 each) until every event was returned to the agent
 *
 * Baseline in the same run: a stock Y.Doc client syncing as many 300-byte entries from the plain relay (connect →
 * synced). Also shown, to split the cost: the same stock client syncing the sealed events from the Parley relay
 * (relay + transfer + Yjs, no decryption). --profile runs the joining node under --cpu-prof and summarises the
 * samples taken between the join_channel call and the last delivery (self time by module and by function).
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ready } from '../protocol/sodium.js';
import { roomKeyPair, memberId } from '../protocol/keys.js';
import { NONCE_BYTES, openEvent, sealEvent, signEvent, type EventBody } from '../protocol/event.js';
import { decodeInvite } from '../protocol/invite.js';
import { fromB64u } from '../protocol/bytes.js';
import { readIdentity, identityPath } from '../node/identity.js';
import { fmt } from './util.js';
import { intOptions, sleep, withTimeout } from './lib/args.js';
import { Cleanup } from './lib/cleanup.js';
import { monotonicUs, summarizeProfileDir } from './lib/cpuprof.js';
import { randomEntry } from './lib/entries.js';
import { startNode } from './lib/mcp.js';
import { relayLabel, startBenchRelay, type BenchRelay } from './lib/relays.js';
import { printTable } from './lib/table.js';
import { ownCpuMs, processCpuMs, threadCpuMs } from './lib/proc-cpu.js';
import { connectYClient, type YClient } from './lib/yclient.js';

const TIMEOUT_MS = 300_000;

/** Waits until the relay holds `count` entries (its own counter, over IPC). */
async function relayHolds(relay: BenchRelay, count: number): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  while ((await relay.stats()).entries < count) {
    if (Date.now() > deadline) throw new Error(`${relay.kind} relay did not store ${count} entries in time`);
    await sleep(50);
  }
}

/** Pushes entries in transactions of `batch` (one relay message each), yielding between them so ws can flush. */
async function push(
  client: YClient,
  entries: Iterable<{ key: string; value: Uint8Array }>,
  batch: number,
): Promise<void> {
  let pending: { key: string; value: Uint8Array }[] = [];
  const flush = async () => {
    const part = pending;
    pending = [];
    client.doc.transact(() => {
      for (const e of part) client.log.set(e.key, e.value);
    });
    await new Promise((r) => setImmediate(r));
  };
  for (const e of entries) {
    pending.push(e);
    if (pending.length >= batch) await flush();
  }
  if (pending.length > 0) await flush();
}

/** Wall time and the CPU time spent by the client and by the relay serving it. */
interface Timed {
  ms: number;
  clientCpuMs: number | null;
  relayCpuMs: number;
}

/** Connect → synced for a fresh stock client (in this process); checks it got `expected` entries. */
async function timeStockSync(
  relay: BenchRelay,
  room: string,
  key: Uint8Array | null,
  expected: number,
): Promise<Timed> {
  const relayCpu0 = (await relay.stats()).cpuMs;
  const cpu0 = ownCpuMs();
  const t0 = performance.now();
  const c = connectYClient(relay.url, room, key);
  try {
    await c.synced(TIMEOUT_MS);
    const ms = performance.now() - t0;
    const clientCpuMs = ownCpuMs() - cpu0;
    if (c.log.size !== expected) throw new Error(`stock client synced ${c.log.size} entries, expected ${expected}`);
    return { ms, clientCpuMs, relayCpuMs: (await relay.stats()).cpuMs - relayCpu0 };
  } finally {
    c.close();
  }
}

/** The node's busiest threads over the window, by name ("node" is the main thread; libuv and V8 helpers are named). */
function threadBreakdown(
  before: ReturnType<typeof threadCpuMs>,
  after: NonNullable<ReturnType<typeof threadCpuMs>>,
): string {
  const used = [...after]
    .map(([tid, t]) => ({ tid, name: t.name, ms: t.ms - (before?.get(tid)?.ms ?? 0) }))
    .filter((t) => t.ms >= 10);
  used.sort((a, b) => b.ms - a.ms);
  return used.map((t) => `${t.name}#${t.tid} ${fmt(t.ms / 1000, 2)} s`).join(', ');
}

// Long: a benchmark script: set up, measure, print, in the order its output reads.
export async function main(args: string[]): Promise<void> {
  const o = intOptions(args, { events: 100_000, batch: 1000 }, ['profile']);
  if (o.events < 1 || o.batch < 1) throw new Error('--events and --batch must be positive');
  // One pushed transaction = one relay message: stay within the relay's per-connection burst (2000 messages) and its
  // 32 MiB frame limit (about 400 B per sealed event on the wire).
  if (Math.ceil(o.events / o.batch) > 1900)
    throw new Error(
      `--batch ${o.batch} would push ${Math.ceil(o.events / o.batch)} messages; the Parley relay's burst is ` +
        `2000: raise --batch`,
    );
  if (o.batch > 50_000) throw new Error('--batch must be at most 50000 (relay frame limit)');
  const N = o.events;
  await ready();
  const cleanup = new Cleanup();
  try {
    const [parley, plain] = await Promise.all([startBenchRelay('parley', cleanup), startBenchRelay('plain', cleanup)]);

    // 1. A real owner creates the channel; its identity and the epoch key are what a forger would lack.
    const owner = await startNode(cleanup, { relays: [parley.url] });
    const created = await owner.call<{ channel: string; invites: Record<string, string> }>('create_channel', {
      name: 'join bench',
      slots: ['invite:bob'],
    });
    const invite = created.invites['invite:bob'];
    const inv = decodeInvite(invite);
    const epoch = { ch: inv.ch, ep: inv.ep, key: fromB64u(inv.key, 32)! };
    const identity = readIdentity(identityPath(owner.home));
    const author = memberId(identity.publicKey);
    const room = roomKeyPair(epoch.key).room;

    // 2. Wait until the relay has the owner's channel.create, read the owner's chain head from it, stop the owner
    //    (so it does not spend the machine's CPU ingesting the history we are about to write).
    const pusher = connectYClient(parley.url, room, epoch.key);
    cleanup.add(() => pusher.close());
    await pusher.synced();
    await withTimeout(
      (async () => {
        while (pusher.log.size === 0) await sleep(20);
      })(),
      15_000,
      "the owner's channel.create never reached the relay",
    );
    let head: { id: string; seq: number; lamport: number } | null = null;
    for (const [, sealed] of pusher.log.entries()) {
      const r = openEvent(sealed, epoch);
      if (r.ok && r.event.body.author === author && (!head || r.event.body.seq > head.seq))
        head = { id: r.event.id, seq: r.event.body.seq, lamport: r.event.body.lamport };
    }
    if (!head) throw new Error('no event by the owner in the room');
    await owner.close();
    const before = (await parley.stats()).entries;

    // 3. N chat messages continuing the owner's chain: seq+1, prev = previous id, lamport+1, no other deps.
    let bytes = 0;
    let genMs = 0;
    const events = function* () {
      let prev = head!;
      for (let i = 1; i <= N; i++) {
        const t = performance.now();
        const body: EventBody = {
          v: 1,
          ch: epoch.ch,
          ep: epoch.ep,
          type: 'message',
          author,
          seq: prev.seq + 1,
          prev: prev.id,
          deps: [],
          lamport: prev.lamport + 1,
          ts: Date.now(),
          payload: { kind: 'chat', body: `history message ${i}` },
        };
        // Our own random nonce: libsodium-wrappers' randombytes_buf (sealEvent's default) costs ~140 µs a call here,
        // which would double the set-up time; the nonce is 24 random bytes either way.
        const { id, sealed } = sealEvent(signEvent(body, identity.secretKey), epoch, randomBytes(NONCE_BYTES));
        genMs += performance.now() - t;
        bytes += sealed.length;
        prev = { id, seq: body.seq, lamport: body.lamport };
        yield { key: id, value: sealed };
      }
    };
    let t = performance.now();
    await push(pusher, events(), o.batch);
    await relayHolds(parley, before + N);
    const pushParleyMs = performance.now() - t;
    pusher.close();

    const plainRoom = room;
    const plainPusher = connectYClient(plain.url, plainRoom, null);
    cleanup.add(() => plainPusher.close());
    await plainPusher.synced();
    t = performance.now();
    await push(
      plainPusher,
      (function* () {
        for (let i = 0; i < N; i++) yield randomEntry();
      })(),
      o.batch,
    );
    await relayHolds(plain, N);
    const pushPlainMs = performance.now() - t;
    plainPusher.close();

    console.log(`join: ${N} chat events (sealed, mean ${fmt(bytes / N, 0)} B) vs ${N} plaintext entries of 300 B`);
    console.log(
      `setup (not timed): sign+seal ${fmt(genMs / 1000, 1)} s (${fmt((genMs * 1000) / N, 1)} µs/event); ` +
        `generate+push to parley relay ${fmt(pushParleyMs / 1000, 1)} s, ` +
        `to plain relay ${fmt(pushPlainMs / 1000, 1)} s (batches of ${o.batch})`,
    );

    // 4. Baselines: stock Y.Doc clients, connect → synced.
    const plainRun = await timeStockSync(plain, plainRoom, null, N);
    const stockRun = await timeStockSync(parley, room, epoch.key, N + 1);
    const plainMs = plainRun.ms;
    const stockParleyMs = stockRun.ms;

    // 5. The joining node: started first (process start-up is not part of joining), then timed from join_channel.
    const profDir = o.flags.has('profile') ? cleanup.tempDir('parley-bench-prof-') : null;
    const joiner = await startNode(cleanup, {
      env: { PARLEY_JOIN_ADMIT_MS: '0' },
      nodeArgs: profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [],
    });
    const db = new Database(join(joiner.home, 'node.sqlite'), { readonly: true, fileMustExist: true });
    cleanup.add(() => db.close());
    const maxDnum = db.prepare('SELECT COALESCE(MAX(dnum), 0) AS m FROM delivered');
    const messages = db.prepare(`SELECT COUNT(*) AS n FROM delivered WHERE ch = ? AND type = 'message'`);
    const relayCpu0 = (await parley.stats()).cpuMs;
    const nodeCpu0 = processCpuMs(joiner.pid);
    const threads0 = threadCpuMs(joiner.pid);
    let threadsAt: ReturnType<typeof threadCpuMs> = null;
    const t0 = performance.now();
    const t0Us = monotonicUs();
    let deliveredUs = 0;
    let nodeCpuMs: number | null = null;
    let firstAt: number | null = null;
    let polling = true;
    cleanup.add(() => (polling = false));
    const delivered = (async () => {
      // MAX(dnum) is a cheap probe; COUNT only once it could be complete.
      while (polling) {
        const m = (maxDnum.get() as { m: number }).m;
        if (m > 0 && firstAt === null) firstAt = performance.now();
        if (m >= N + 1 && (messages.get(epoch.ch) as { n: number }).n >= N) {
          deliveredUs = monotonicUs();
          nodeCpuMs = nodeCpu0 === null ? null : (processCpuMs(joiner.pid) ?? NaN) - nodeCpu0;
          threadsAt = threadCpuMs(joiner.pid);
          return performance.now();
        }
        await sleep(10);
      }
      throw new Error('stopped');
    })();
    const joined = joiner
      .call('join_channel', { invite_code: invite, display_name: 'joiner' }, TIMEOUT_MS)
      .then(() => performance.now());
    const [deliveredAt, joinedAt] = await withTimeout(
      Promise.all([delivered, joined]),
      TIMEOUT_MS,
      'the joining node did not deliver everything in time',
    );
    // Read after the join returned: the relay served the history well before the last delivery.
    const joinRelayCpuMs = (await parley.stats()).cpuMs - relayCpu0;

    // 6. What an agent does next: read it all through sync_messages.
    const r0 = performance.now();
    const r0Us = monotonicUs();
    let cursor = '0';
    let read = 0;
    let pages = 0;
    while (read < N) {
      const r = await joiner.call<{ messages: { kind: string }[]; cursor: string; more: boolean }>('sync_messages', {
        channel: epoch.ch,
        cursor,
        limit: 500,
      });
      pages++;
      read += r.messages.filter((m) => m.kind === 'chat').length;
      if (r.messages.length === 0 && !r.more) throw new Error(`sync_messages stopped at ${read}/${N}`);
      cursor = r.cursor;
    }
    const readMs = performance.now() - r0;
    const readUs = monotonicUs();
    const deliveredMs = deliveredAt - t0;
    const verify = await joiner.call<{ ok: boolean; events: number; problems: string[] }>(
      'verify_channel',
      { channel: epoch.ch },
      TIMEOUT_MS,
    );
    await joiner.close();

    const rate = (ms: number) => fmt((N / ms) * 1000, 0);
    console.log('');
    printTable([
      ['', 'ms', 'events/s'],
      [`baseline: stock Y.Doc client ← ${relayLabel('plain')}, connect → synced`, fmt(plainMs, 0), rate(plainMs)],
      [
        `split: stock Y.Doc client ← ${relayLabel('parley')} (sealed entries, no decryption)`,
        fmt(stockParleyMs, 0),
        rate(stockParleyMs),
      ],
      ['parley node: join_channel → first event delivered', fmt((firstAt ?? NaN) - t0, 0), ''],
      ['parley node: join_channel → all events delivered', fmt(deliveredMs, 0), rate(deliveredMs)],
      ['parley node: join_channel returned (pending: owner stopped)', fmt(joinedAt - t0, 0), ''],
      [`parley node: then read all via sync_messages (${pages} pages)`, fmt(readMs, 0), rate(readMs)],
      [
        'parley node: join_channel → agent has read everything',
        fmt(Math.max(joinedAt, deliveredAt) - t0 + readMs, 0),
        '',
      ],
    ]);
    const cores = (cpuMs: number, ms: number) =>
      `${fmt(cpuMs / 1000, 2)} s (${fmt(cpuMs / ms, 1)} cores busy on average)`;
    const cpu = (t: Timed) =>
      (t.clientCpuMs === null ? '' : `client ${fmt(t.clientCpuMs / 1000, 2)} s + `) +
      `relay ${fmt(t.relayCpuMs / 1000, 2)} s`;
    console.log(`CPU time: baseline ${cpu(plainRun)}; split ${cpu(stockRun)}`);
    if (nodeCpuMs !== null) {
      console.log(
        `CPU time to all delivered: node ${fmt(nodeCpuMs / 1000, 2)} s + relay ${fmt(joinRelayCpuMs / 1000, 2)} s ` +
          `= ${cores(nodeCpuMs + joinRelayCpuMs, deliveredMs)} on ${availableParallelism()} cores`,
      );
      if (threadsAt) console.log(`  node threads: ${threadBreakdown(threads0, threadsAt)}`);
    }
    if (joinedAt < deliveredAt) {
      console.log(
        'note: join_channel returned before the history was delivered: its wait for the relay sync (node/join.ts ' +
          'joinChannel, 10 s) ran out',
      );
    }
    console.log(
      `verify_channel: ok=${verify.ok}, ${verify.events} events` +
        (verify.problems.length ? `, problems: ${verify.problems.join('; ')}` : ''),
    );
    const ratio = deliveredMs / plainMs;
    console.log(
      `\nratio parley/baseline (all delivered vs plaintext sync): ${fmt(ratio)}× (target ≤ ` +
        `2×: ${ratio <= 2 ? 'meets' : 'MISSES'})`,
    );
    console.log(
      `absolute: ${fmt(deliveredMs / 1000, 2)} s for ${N} events (target ≤ 4 ` +
        `s: ${deliveredMs <= 4000 ? 'meets' : 'MISSES'})`,
    );
    if (profDir) {
      summarizeProfileDir(profDir, 25, {
        label: 'samples from join_channel to all delivered',
        fromUs: t0Us,
        toUs: deliveredUs,
      });
      console.log('\n--- the read phase (sync_messages pages) ---');
      summarizeProfileDir(profDir, 25, {
        label: 'samples while sync_messages read everything',
        fromUs: r0Us,
        toUs: readUs,
      });
    }
  } finally {
    await cleanup.run();
  }
}
