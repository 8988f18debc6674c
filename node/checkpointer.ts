/**
 * WAL checkpoints on a worker thread.
 *
 * A checkpoint copies the write-ahead log into the database file and syncs both. SQLite runs it by default inside
 * whichever commit crosses the threshold, on this node's only thread: during a long join that stalled delivery for
 * ~0.2 s every 32 MB of log (`npm run bench -- join`). Here a worker with its own connection runs passive
 * checkpoints (they never block the writer or readers) at most once a second while commits happen. The node's own
 * connection keeps a much larger automatic threshold as a backstop, and goes back to SQLite's usual one if the
 * worker cannot run, so the log stays bounded either way.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';

/** Pages of log before the node's own connection checkpoints (backstop; 256 MB at 4 KiB pages). */
const BACKSTOP_PAGES = 65_536;
/** What the node's connection uses when there is no worker (measured by the join bench, see docs/DESIGN-NOTES.md). */
const INLINE_PAGES = 8192;
const MIN_INTERVAL_MS = 1000;

// CommonJS text run with `eval`: needs no separate file, so it works from dist/ and from sources under vitest alike.
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
parentPort.on('message', () => {
  let ok = true;
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { ok = false; }
  parentPort.postMessage(ok);
});
`;

export class Checkpointer {
  private worker: Worker | null = null;
  private busy = false;
  private again = false;
  private last = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Passive checkpoints completed by the worker (for tests). */
  done = 0;

  constructor(
    private readonly db: Database.Database,
    file: string,
    useWorker = true,
  ) {
    if (!useWorker) {
      this.inline();
      return;
    }
    try {
      const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
      const worker = new Worker(WORKER, { eval: true, workerData: { file, sqlite } });
      worker.unref();
      worker.on('message', () => {
        this.done++;
        this.busy = false;
        if (this.again) {
          this.again = false;
          this.poke();
        }
      });
      worker.on('error', () => this.inline());
      worker.on('exit', () => this.inline());
      this.worker = worker;
      db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
    } catch {
      this.inline();
    }
  }

  /** Something was committed: checkpoint soon (at most one at a time, at most once per MIN_INTERVAL_MS). */
  poke(): void {
    if (!this.worker || this.timer) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.last = Date.now();
        this.worker?.postMessage(0);
      },
      Math.max(0, this.last + MIN_INTERVAL_MS - Date.now()),
    );
    this.timer.unref();
  }

  /** No worker (it failed, or the store is closing): the node's connection checkpoints as SQLite usually does. */
  private inline(): void {
    const worker = this.worker;
    this.worker = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${INLINE_PAGES}`);
    void worker?.terminate();
  }

  close(): void {
    this.inline();
  }
}
