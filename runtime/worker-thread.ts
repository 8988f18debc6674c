/**
 * A worker thread with an inline fallback, the shape both of Parley's threads share (node/opener.ts opens sealed
 * entries, bots/replayer.ts replays bot steps): the work runs on a thread when its compiled script exists, and on
 * the calling thread otherwise (sources run by vitest have no compiled worker; an environment switch turns the
 * thread off; a thread that dies hands its work back). This module knows nothing of the work itself: it finds the
 * script, keeps the process alive exactly while replies are owed, and reports the thread's end once.
 *
 * It sits below every layer (it imports only Node.js), so both `bots/` and `node/` may use it.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type Transferable } from 'node:worker_threads';

/**
 * The compiled worker script `name` beside the module at `base` (its import.meta.url), or null to work inline:
 * when the environment variable `switchVar` is "0", or the script does not exist (sources run under vitest).
 */
export function compiledWorker(name: string, base: string, switchVar: string): string | null {
  if (process.env[switchVar] === '0') return null;
  const file = fileURLToPath(new URL(name, base));
  return existsSync(file) ? file : null;
}

export interface WorkerThreadHooks<Reply> {
  onMessage(reply: Reply): void;
  /** The thread ended (an uncaught error or an exit): called once; the owner falls back to working inline. */
  onFail(reason: string): void;
}

/** One worker thread; the process may exit while it idles, and stays alive while replies are owed. */
export class WorkerThread<Request, Reply> {
  private readonly worker: Worker;
  private owedTotal = 0;
  private failure: string | null = null;

  constructor(file: string, hooks: WorkerThreadHooks<Reply>) {
    this.worker = new Worker(file);
    this.worker.unref();
    this.worker.on('message', (m: Reply) => hooks.onMessage(m));
    const fail = (reason: string) => {
      if (this.failure !== null) return;
      this.failure = reason;
      hooks.onFail(reason);
    };
    this.worker.on('error', (err) => fail(`failed: ${err.message}`));
    this.worker.on('exit', (code) => fail(`stopped (exit code ${code})`));
  }

  /** Why the thread ended, or null while it runs. */
  get failed(): string | null {
    return this.failure;
  }

  /** Sends a request; dropped once the thread has ended (its owner has taken the work back by then). */
  post(request: Request, transfer?: readonly Transferable[]): void {
    if (this.failure === null) this.worker.postMessage(request, transfer);
  }

  /** Counts replies owed (positive) or received (negative): the thread keeps the process alive while any are owed. */
  owe(delta: number): void {
    const before = this.owedTotal;
    this.owedTotal += delta;
    if (before === 0 && this.owedTotal > 0) this.worker.ref();
    else if (before > 0 && this.owedTotal === 0) this.worker.unref();
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}
