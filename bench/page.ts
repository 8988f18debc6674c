/**
 * `npm run bench -- page [--messages 10000] [--runs 5]`
 *
 * The web page of `parley serve` opening a long channel in Chromium (Debian's /usr/bin/chromium via playwright-core):
 * a real relay and a real `parley serve`; --messages chat messages are posted over MCP (Streamable HTTP), then a fresh
 * tab opens the page's link with that channel selected, and we time navigation start → the newest message shown
 * (HTML, script, channel list, the newest page of the transcript, rendering). Baseline in the same run: the same page
 * opening a 10-message channel. Also run by `npm run bench -- latency`.
 */
import { launchBrowser } from '../dev/browser.js';
import { ready } from '../protocol/sodium.js';
import { fmt, summarize } from './util.js';
import { intOptions } from './lib/args.js';
import { Cleanup } from './lib/cleanup.js';
import { startBenchRelay } from './lib/relays.js';
import { connectHttp, startServe } from './lib/serve.js';
import { printTable } from './lib/table.js';
import type { BenchNode } from './lib/mcp.js';

/** Posts in flight at once while filling the channel. */
const FILL_CONCURRENCY = 8;

async function fill(node: BenchNode, ch: string, count: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await node.call('post_message', { channel: ch, body: `message ${i} of ${count}: ${'lorem ipsum '.repeat(4)}` });
    }
  };
  await Promise.all(Array.from({ length: FILL_CONCURRENCY }, worker));
}

export interface PageOpen {
  long: ReturnType<typeof summarize>;
  short: ReturnType<typeof summarize>;
  messages: number;
}

export async function measurePageOpen(o: { messages: number; runs: number }): Promise<PageOpen> {
  const cleanup = new Cleanup();
  try {
    const relay = await startBenchRelay('parley', cleanup);
    const serve = await startServe(cleanup, { relays: [relay.url] });
    const agent = await connectHttp(cleanup, serve);
    const channels: Record<'long' | 'short', { ch: string; count: number }> = {
      long: {
        ch: (await agent.call<{ channel: string }>('create_channel', { name: 'long' })).channel,
        count: o.messages,
      },
      short: { ch: (await agent.call<{ channel: string }>('create_channel', { name: 'short' })).channel, count: 10 },
    };
    const t = performance.now();
    await fill(agent, channels.long.ch, channels.long.count);
    await fill(agent, channels.short.ch, channels.short.count);
    console.log(
      `page: posted ${o.messages} + 10 messages over MCP (HTTP) in ${fmt((performance.now() - t) / 1000, 1)} s`,
    );

    const browser = await launchBrowser();
    cleanup.add(() => browser.close());
    const { context } = browser;
    const samples: Record<'long' | 'short', number[]> = { long: [], short: [] };
    // One warm-up open, then the runs alternate so both see the same machine load.
    for (let run = -1; run < o.runs; run++) {
      for (const which of ['long', 'short'] as const) {
        const { ch, count } = channels[which];
        const page = await context.newPage();
        await page.addInitScript((id) => sessionStorage.setItem('parley.channel', id), ch);
        const t0 = performance.now();
        await page.goto(serve.page);
        // The newest message posted, anywhere in the shown page: concurrent posts may be delivered out of their order.
        await page
          .locator('#transcript li', { hasText: `message ${count - 1} of ${count}:` })
          .waitFor({ timeout: 30_000 });
        if (run >= 0) samples[which].push(performance.now() - t0);
        await page.close();
      }
    }
    return { long: summarize(samples.long), short: summarize(samples.short), messages: o.messages };
  } finally {
    await cleanup.run();
  }
}

export function printPageOpen(r: PageOpen): void {
  printTable([
    ['', 'n', 'p50 ms', 'max ms', 'mean ms'],
    [
      'page opens a 10-message channel (baseline)',
      String(r.short.n),
      fmt(r.short.p50),
      fmt(r.short.p99),
      fmt(r.short.mean),
    ],
    [
      `page opens a ${r.messages.toLocaleString('en-US')}-message channel`,
      String(r.long.n),
      fmt(r.long.p50),
      fmt(r.long.p99),
      fmt(r.long.mean),
    ],
  ]);
  const worst = r.long.p99;
  console.log(
    `ratio long/short: p50 ${fmt(r.long.p50 / r.short.p50)}×; target: open ≤ 1000 ms: ` +
      `worst ${fmt(worst)} ms ${worst <= 1000 ? 'meets' : 'MISSES'}`,
  );
}

export async function main(args: string[]): Promise<void> {
  const o = intOptions(args, { messages: 10_000, runs: 5 });
  await ready();
  printPageOpen(await measurePageOpen(o));
}
