/** Starts a real `parley relay` process for a test (127.0.0.1, port 0 unless given) and stops it. */
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
  process: ChildProcess;
  /** Sends a signal (default SIGKILL) and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM and wait; safe to call twice. */
  stop(): Promise<void>;
}

export function spawnRelay(opts: { dataDir?: string; port?: number } = {}): Promise<SpawnedRelay> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'parley-relay-'));
  const home = mkdtempSync(join(tmpdir(), 'parley-relay-home-'));
  const child = spawn(process.execPath, [CLI, 'relay', '--port', String(opts.port ?? 0), '--data', dataDir], {
    env: { ...process.env, PARLEY_HOME: home },
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
      resolve({ url: m[1], port: Number(m[2]), dataDir, process: child, kill, stop: () => kill('SIGTERM') });
    });
  });
}
