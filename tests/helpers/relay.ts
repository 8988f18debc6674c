/**
 * Starts a real `parley relay` process for a test (127.0.0.1, port 0 unless given) and stops it. With `store` (a
 * postgres:// URL) it uses that shared store instead of SQLite in `dataDir`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CLI } from './mcp.js';

export interface SpawnedRelay {
  url: string;
  port: number;
  dataDir: string;
  store?: string;
  process: ChildProcess;
  /** What the relay wrote to stderr so far (its log lines). */
  stderr(): string;
  /** Sends a signal (default SIGKILL) and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM and wait; safe to call twice. */
  stop(): Promise<void>;
}

export function spawnRelay(
  opts: { dataDir?: string; port?: number; store?: string; env?: Record<string, string>; args?: string[] } = {},
): Promise<SpawnedRelay> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'parley-relay-'));
  const home = mkdtempSync(join(tmpdir(), 'parley-relay-home-'));
  const args = [
    CLI,
    'relay',
    '--port',
    String(opts.port ?? 0),
    '--data',
    dataDir,
    ...(opts.store ? ['--store', opts.store] : []),
    ...(opts.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, PARLEY_HOME: home, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`relay did not start within 15 s: ${stderr.trim()}`));
    }, 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`relay exited with ${code}: ${stderr.trim()}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^parley relay listening on (ws:\/\/[^:]+:(\d+))$/.exec(line);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        url: m[1],
        port: Number(m[2]),
        dataDir,
        store: opts.store,
        process: child,
        stderr: () => stderr,
        kill,
        stop: () => kill('SIGTERM'),
      });
    });
  });
}
