/** Starts a relay (Parley, the plain baseline or Hocuspocus) in its own process; see bench/lib/relay-child.ts. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Cleanup } from './cleanup.js';

export type RelayKind = 'parley' | 'plain' | 'hocuspocus';

export interface RelayStats {
  /** CPU time (user + system) the relay process has used since it started, ms. */
  cpuMs: number;
  rssMb: number;
  /** Parley: entries stored; plain: entries held in its documents. */
  entries: number;
  refused: Record<string, number>;
}

export interface BenchRelay {
  kind: RelayKind;
  url: string;
  process: ChildProcess;
  stats(): Promise<RelayStats>;
  close(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./relay-child.js', import.meta.url));

export const relayLabel = (kind: RelayKind) =>
  kind === 'parley' ? 'parley relay' : kind === 'hocuspocus' ? 'Hocuspocus server' : 'plain y-protocols relay';

/**
 * `execArgv` e.g. ['--cpu-prof', '--cpu-prof-dir', dir] to profile the relay process; `store` a postgres:// URL for
 * a Parley relay on PostgreSQL instead of SQLite.
 */
export async function startBenchRelay(
  kind: RelayKind,
  cleanup: Cleanup,
  execArgv: string[] = [],
  store?: string,
): Promise<BenchRelay> {
  const args = kind === 'parley' ? [kind, cleanup.tempDir('parley-bench-relay-'), ...(store ? [store] : [])] : [kind];
  const child = fork(CHILD, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let nextId = 1;
  const pending = new Map<number, (s: RelayStats) => void>();
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} relay did not start within 15 s`)), 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${kind} relay exited with ${code} before it was ready`));
    });
    child.on('message', (m: { type: string; url?: string; id?: number } & RelayStats) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve(m.url!);
      } else if (m.type === 'stats') {
        pending.get(m.id!)?.(m);
        pending.delete(m.id!);
      }
    });
  });
  let closed = false;
  const relay: BenchRelay = {
    kind,
    url,
    process: child,
    stats: () =>
      new Promise<RelayStats>((resolve) => {
        const id = nextId++;
        pending.set(id, resolve);
        child.send({ cmd: 'stats', id });
      }),
    async close() {
      if (closed) return;
      closed = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.send({ cmd: 'close' });
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
  cleanup.add(() => relay.close());
  return relay;
}
