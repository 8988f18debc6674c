/**
 * Child-process entry that runs one relay for a benchmark: `node relay-child.js parley <dataDir> [postgres://…]` runs
 * the real Parley relay (relay/server.ts startRelay, as `parley relay` does; on SQLite in dataDir, or on the given
 * PostgreSQL store), `node relay-child.js plain` the baseline, `node relay-child.js hocuspocus` a Hocuspocus server
 * (bench/lib/hocuspocus-relay.ts).
 * A separate process keeps the relay's CPU off the benchmark's event loop (the clients would otherwise compete
 * with it on one thread) and lets the parent read the relay's own CPU time. Talks to the parent over IPC
 * (see bench/lib/relays.ts).
 */
import { startRelay } from '../../relay/server.js';
import { startPlainRelay } from './plain-relay.js';
import { startHocuspocusRelay } from './hocuspocus-relay.js';

type Request = { cmd: 'stats'; id: number } | { cmd: 'close' };

async function run(): Promise<void> {
  const [kind, dataDir, store] = process.argv.slice(2);
  let url: string;
  let close: () => Promise<void>;
  let stats: () => { entries: number; refused: Record<string, number> };
  if (kind === 'parley') {
    if (!dataDir) throw new Error('usage: relay-child.js parley <dataDir>');
    const relay = await startRelay({ port: 0, host: '127.0.0.1', dataDir, store: store ?? '' });
    url = relay.url;
    close = () => relay.close();
    stats = () => ({ entries: relay.metrics.entriesStored, refused: Object.fromEntries(relay.metrics.refused) });
  } else if (kind === 'plain') {
    const relay = await startPlainRelay();
    url = relay.url;
    close = () => relay.close();
    stats = () => ({ entries: relay.entryCount(), refused: {} });
  } else if (kind === 'hocuspocus') {
    const relay = await startHocuspocusRelay();
    url = relay.url;
    close = () => relay.close();
    stats = () => ({ entries: relay.entryCount(), refused: {} });
  } else {
    throw new Error(`unknown relay kind ${kind}`);
  }
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    void close().finally(() => process.exit(0));
  };
  process.on('message', (m: Request) => {
    if (m.cmd === 'close') return shutdown();
    if (m.cmd === 'stats') {
      const cpu = process.cpuUsage();
      process.send!({
        type: 'stats',
        id: m.id,
        cpuMs: (cpu.user + cpu.system) / 1000,
        rssMb: process.memoryUsage().rss / 2 ** 20,
        ...stats(),
      });
    }
  });
  // The parent went away (crashed or killed): do not linger.
  process.on('disconnect', shutdown);
  process.on('SIGTERM', shutdown);
  process.send!({ type: 'ready', url });
}

run().catch((err: unknown) => {
  console.error(`relay-child: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
