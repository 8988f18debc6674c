/**
 * `npm run bench -- latency [--messages 500] [--warmup 20] [--gap 5]`
 *
 * End-to-end message latency between two real `parley mcp` nodes through a real Parley relay: node B has a pending
 * long-poll `sync_messages {wait_seconds}`, node A is asked to `post_message`; measured from the post request leaving
 * this process to B's sync_messages answer arriving (sign, seal, store, relay validate/store/forward, B's ingest,
 * decrypt, verify, deliver, and both MCP stdio hops).
 *
 * The same over HTTP in the same run: each agent reaches its own `parley serve` at /mcp (Streamable HTTP), and then
 * the web page's open time for a 10,000-message channel in Chromium (bench/page.ts).
 *
 * Baseline in the same run: plain Yjs propagation between two Y.Docs through the plain relay (set one 300-byte entry
 * on one doc, observe it on the other), same count and pacing. Both relays run in their own process.
 * --gap is the pause before each send, so that B's long-poll (or the baseline observer) is parked when it arrives.
 */
import { ready } from '../protocol/sodium.js';
import { newEpochKey, roomKeyPair } from '../protocol/keys.js';
import { fmt, summarize } from './util.js';
import { intOptions, sleep, withTimeout } from './lib/args.js';
import { Cleanup } from './lib/cleanup.js';
import { randomEntry } from './lib/entries.js';
import { startNode } from './lib/mcp.js';
import { connectHttp, startServe } from './lib/serve.js';
import { measurePageOpen, printPageOpen } from './page.js';
import { relayLabel, startBenchRelay } from './lib/relays.js';
import { printTable } from './lib/table.js';
import { connectYClient } from './lib/yclient.js';

interface Options {
  messages: number;
  warmup: number;
  gap: number;
}

interface SyncResult {
  messages: { body: string; kind: string }[];
  cursor: string;
}

/** `http`: both agents reach their own `parley serve` over Streamable HTTP instead of a stdio `parley mcp`. */
async function parleyLatency(
  o: Options,
  transport: 'stdio' | 'http' = 'stdio',
): Promise<{ samples: number[]; postRtt: number[] }> {
  const cleanup = new Cleanup();
  try {
    const relay = await startBenchRelay('parley', cleanup);
    const start = () =>
      transport === 'http'
        ? startServe(cleanup, { relays: [relay.url] }).then((s) => connectHttp(cleanup, s))
        : startNode(cleanup, { relays: [relay.url] });
    const [a, b] = await Promise.all([start(), start()]);
    const created = await a.call<{ channel: string; invites: Record<string, string> }>('create_channel', {
      name: 'latency bench',
      slots: ['invite:bob'],
    });
    const ch = created.channel;
    await b.call('join_channel', { invite_code: created.invites['invite:bob'], display_name: 'bob' });
    // Drain what B has so far (channel creation, its own join) so every later long-poll waits for A's next post.
    let cursor = (await b.call<SyncResult>('sync_messages', { channel: ch, limit: 500 })).cursor;

    const samples: number[] = [];
    const postRtt: number[] = [];
    for (let i = 0; i < o.warmup + o.messages; i++) {
      const body = `latency probe ${i}`;
      const poll = (async () => {
        for (;;) {
          const r = await b.call<SyncResult>('sync_messages', { channel: ch, cursor, limit: 50, wait_seconds: 30 });
          cursor = r.cursor;
          if (r.messages.some((m) => m.body === body)) return performance.now();
          if (r.messages.length === 0) throw new Error(`B's long-poll timed out waiting for "${body}"`);
        }
      })();
      await sleep(o.gap);
      const t0 = performance.now();
      const posted = a.call('post_message', { channel: ch, body }).then(() => performance.now());
      const [received, postedAt] = await Promise.all([poll, posted]);
      if (i >= o.warmup) {
        samples.push(received - t0);
        postRtt.push(postedAt - t0);
      }
    }
    return { samples, postRtt };
  } finally {
    await cleanup.run();
  }
}

async function plainLatency(o: Options): Promise<number[]> {
  const cleanup = new Cleanup();
  try {
    const relay = await startBenchRelay('plain', cleanup);
    const room = roomKeyPair(newEpochKey()).room;
    const a = connectYClient(relay.url, room, null);
    const b = connectYClient(relay.url, room, null);
    cleanup.add(() => a.close());
    cleanup.add(() => b.close());
    await Promise.all([a.synced(), b.synced()]);
    let waiting: { key: string; resolve: (t: number) => void } | null = null;
    b.log.observe((event) => {
      const now = performance.now();
      if (waiting && event.keysChanged.has(waiting.key)) {
        const w = waiting;
        waiting = null;
        w.resolve(now);
      }
    });
    const samples: number[] = [];
    for (let i = 0; i < o.warmup + o.messages; i++) {
      const { key, value } = randomEntry();
      const seen = new Promise<number>((resolve) => (waiting = { key, resolve }));
      await sleep(o.gap);
      const t0 = performance.now();
      a.log.set(key, value);
      const t1 = await withTimeout(seen, 30_000, 'baseline entry not observed within 30 s');
      if (i >= o.warmup) samples.push(t1 - t0);
    }
    return samples;
  } finally {
    await cleanup.run();
  }
}

export async function main(args: string[]): Promise<void> {
  const o: Options = intOptions(args, { messages: 500, warmup: 20, gap: 5 });
  if (o.messages < 1) throw new Error('--messages must be positive');
  await ready();
  console.log(`latency: ${o.messages} messages (+${o.warmup} warm-up), ${o.gap} ms pause before each`);

  const base = summarize(await plainLatency(o));
  const { samples, postRtt } = await parleyLatency(o);
  const parley = summarize(samples);
  const post = summarize(postRtt);
  const overHttp = await parleyLatency(o, 'http');
  const http = summarize(overHttp.samples);
  const httpPost = summarize(overHttp.postRtt);

  console.log('');
  printTable([
    ['', 'n', 'p50 ms', 'p99 ms', 'mean ms'],
    [`baseline: Y.Doc → ${relayLabel('plain')} → Y.Doc`, String(base.n), fmt(base.p50), fmt(base.p99), fmt(base.mean)],
    [
      `parley: post_message (A) → ${relayLabel('parley')} → sync_messages (B)`,
      String(parley.n),
      fmt(parley.p50),
      fmt(parley.p99),
      fmt(parley.mean),
    ],
    ['  (for reference) post_message round trip on A', String(post.n), fmt(post.p50), fmt(post.p99), fmt(post.mean)],
    [
      `parley over HTTP: post_message (A, /mcp) → ${relayLabel('parley')} → sync_messages (B, /mcp)`,
      String(http.n),
      fmt(http.p50),
      fmt(http.p99),
      fmt(http.mean),
    ],
    [
      '  (for reference) post_message round trip on A over HTTP',
      String(httpPost.n),
      fmt(httpPost.p50),
      fmt(httpPost.p99),
      fmt(httpPost.mean),
    ],
  ]);
  console.log(`\nratio parley/baseline: p50 ${fmt(parley.p50 / base.p50)}×, p99 ${fmt(parley.p99 / base.p99)}×`);
  const ok = (v: number, t: number) => (v <= t ? 'meets' : 'MISSES');
  console.log(
    `targets: p50 ${fmt(parley.p50)} ms ${ok(parley.p50, 10)} ≤ 10 ms; ` +
      `p99 ${fmt(parley.p99)} ms ${ok(parley.p99, 40)} ≤ 40 ms`,
  );
  console.log(
    `HTTP/stdio: p50 ${fmt(http.p50 / parley.p50)}× ${ok(http.p50 / parley.p50, 1.5)} ≤ 1.5×, ` +
      `p99 ${fmt(http.p99 / parley.p99)}×`,
  );
  console.log('');
  printPageOpen(await measurePageOpen({ messages: 10_000, runs: 5 }));
}
