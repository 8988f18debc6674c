/**
 * Runs one bot's steps in order and hands back each outcome, for bots/channel-bots.ts.
 *
 * Replaying is most of a verifier's work (QuickJS runs far slower than V8), and nothing else a node does waits for
 * it. So by default every bot of the process replays on one shared worker thread (bots/replay-worker.ts) while the
 * node's own thread goes on with delivery, checks and comparisons: on two cores the two overlap. Each step is still
 * its own guest call, in the same order, with the same inputs, so outcomes are byte-identical to an inline replay
 * (tests/bots/replayer.test.ts). The inline replayer is the fallback where the worker's compiled file does not
 * exist (sources run under vitest) or when PARLEY_REPLAY_THREAD=0.
 */
import { compiledWorker, WorkerThread } from '../runtime/worker-thread.js';
import type { Json } from '../protocol/canonical.js';
import {
  HOOKS,
  loadBot,
  stateHash,
  type BotOutput,
  type BotSandbox,
  type StepInput,
  type StepOutcome,
  type TextOutcome,
} from './sandbox.js';
import { prngState } from './seed.js';

/** A step as the replayer takes it: the replayer keeps the bot's state itself. */
export type StepRequest = Omit<StepInput, 'state'>;

export type StepOutcomeLite =
  | Omit<Extract<StepOutcome, { status: 'ok' | 'error' }>, 'state'>
  | Extract<StepOutcome, { status: 'unverifiable' }>;

export interface Replayer {
  /** Queues one step; `done` receives its outcome. Outcomes arrive in the order steps were queued. */
  step(request: StepRequest, done: (outcome: StepOutcomeLite) => void): void;
  /** Resolves once every queued step's outcome has been handed over. */
  idle(): Promise<void>;
  /** Stops the bot; outcomes not yet handed over are dropped. */
  close(): void;
}

/** What `idle()` returns when nothing is owed: callers compare against it to tell "idle now" from "wait". */
export const IDLE: Promise<void> = Promise.resolve();

/** Outcomes owed, oldest first, and the promise `idle()` gives out while any are. */
class Owed {
  private readonly callbacks: ((o: StepOutcomeLite) => void)[] = [];
  private head = 0;
  private waiter: { promise: Promise<void>; resolve: () => void } | null = null;

  get size(): number {
    return this.callbacks.length - this.head;
  }

  push(done: (o: StepOutcomeLite) => void): void {
    this.callbacks.push(done);
  }

  settle(outcome: StepOutcomeLite): void {
    const done = this.callbacks[this.head];
    this.callbacks[this.head++] = undefined as never;
    if (this.head === this.callbacks.length) {
      this.callbacks.length = 0;
      this.head = 0;
    }
    try {
      done(outcome);
    } finally {
      if (this.size === 0) this.release();
    }
  }

  drop(): void {
    this.callbacks.length = 0;
    this.head = 0;
    this.release();
  }

  idle(): Promise<void> {
    if (this.size === 0) return IDLE;
    if (!this.waiter) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.waiter = { promise, resolve };
    }
    return this.waiter.promise;
  }

  private release(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.resolve();
  }
}

/**
 * One bot's state as replay carries it: the JSON text the guest wrote (handed back to it as is, never re-encoded)
 * and its canonical hash, which a failed step keeps.
 */
export class TextReplay {
  private stateText = 'null';
  private hash = stateHash(null);

  constructor(private readonly sandbox: BotSandbox) {}

  close(): void {
    this.sandbox.close();
  }

  /** Runs one step; `outputsText` is the outputs' JSON as the guest wrote it (or the error notice's). */
  run(
    hook: StepInput['hook'],
    now: number,
    rng: readonly number[],
    argText: string,
    members: Json,
    channel: Json,
  ): { outcome: StepOutcomeLite; outputsText: string } {
    const o: TextOutcome = this.sandbox.stepText({
      hook,
      now,
      rng,
      argText,
      stateText: this.stateText,
      members,
      channel,
    });
    if (o.status === 'unverifiable') return { outcome: o, outputsText: '' };
    if (o.status === 'failed') {
      const outputs: BotOutput[] = [{ kind: 'error', body: o.error }];
      return {
        outcome: { status: 'error', outputs, stateHash: this.hash, gas: o.gas, error: o.error },
        outputsText: JSON.stringify(outputs),
      };
    }
    this.stateText = o.stateText;
    this.hash = o.stateHash;
    return {
      outcome: { status: 'ok', outputs: o.outputs, stateHash: o.stateHash, gas: o.gas },
      outputsText: o.outputsText,
    };
  }
}

/** Replays on this thread; each step runs as soon as it is queued once the bot has loaded. */
class InlineReplayer implements Replayer {
  private replay: TextReplay | null = null;
  private readonly waiting: StepRequest[] = [];
  private readonly owed = new Owed();
  private closed = false;
  private broken: string | null = null;

  constructor(source: string, limits: unknown) {
    loadBot(source, limits).then(
      (sb) => {
        if (this.closed) return sb.close();
        this.replay = new TextReplay(sb);
        for (const r of this.waiting.splice(0)) this.run(r);
      },
      (err: Error) => {
        this.broken = `the bot could not be started here: ${err.message}`;
        for (const r of this.waiting.splice(0)) this.run(r);
      },
    );
  }

  step(request: StepRequest, done: (outcome: StepOutcomeLite) => void): void {
    if (this.closed) throw new Error('replayer is closed');
    this.owed.push(done);
    if (this.replay || this.broken) this.run(request);
    else this.waiting.push(request);
  }

  private run(r: StepRequest): void {
    if (this.broken || !this.replay)
      return this.owed.settle({ status: 'unverifiable', reason: this.broken ?? 'no sandbox' });
    this.owed.settle(
      this.replay.run(r.hook, r.now, prngState(r.random), JSON.stringify(r.arg ?? null), r.members, r.channel).outcome,
    );
  }

  idle(): Promise<void> {
    return this.owed.idle();
  }

  close(): void {
    this.closed = true;
    this.owed.drop();
    this.replay?.close();
    this.replay = null;
  }
}

/**
 * Steps travel to bots/replay-worker.ts as one text per batch, a line per step, fields split by tabs — V8 copies a
 * string across threads far faster than it clones objects, and JSON never holds a raw tab or newline:
 *   hook index, now, the PRNG's four starting words (bots/seed.ts prngState), members JSON or '' if unchanged,
 *   channel JSON or '', the argument's JSON.
 * Outcomes come back the same way, a line each:
 *   'o' or 'e', gas, state hash, the error as JSON or '', the outputs' JSON;  or  'u', the reason as JSON.
 */
export type ToWorker =
  | { t: 'open'; key: number; source: string; limits: unknown }
  | { t: 'steps'; key: number; steps: string }
  | { t: 'close'; key: number };

export type FromWorker = { t: 'outcomes'; key: number; outcomes: string };

/** The worker's half of the outcome format above. */
export function outcomeLine(o: StepOutcomeLite, outputsText: string): string {
  if (o.status === 'unverifiable') return `u\t${JSON.stringify(o.reason)}`;
  const error = o.error === undefined ? '' : JSON.stringify(o.error);
  return `${o.status === 'ok' ? 'o' : 'e'}\t${o.gas}\t${o.stateHash}\t${error}\t${outputsText}`;
}

function parseOutcomeLine(line: string): StepOutcomeLite {
  if (line.charCodeAt(0) === 117 /* u */)
    return { status: 'unverifiable', reason: JSON.parse(line.slice(2)) as string };
  const a = line.indexOf('\t', 2);
  const b = line.indexOf('\t', a + 1);
  const c = line.indexOf('\t', b + 1);
  const outputs = JSON.parse(line.slice(c + 1)) as BotOutput[];
  const gas = Number(line.slice(2, a));
  const stateHash = line.slice(a + 1, b);
  if (line.charCodeAt(0) === 111 /* o */) return { status: 'ok', outputs, stateHash, gas };
  return { status: 'error', outputs, stateHash, gas, error: JSON.parse(line.slice(b + 1, c)) as string };
}

/** Steps sent to the worker in one message at most: small enough that replay starts while delivery goes on. */
const BATCH = 32;

/** The process's replay thread and the bots on it. */
class ReplayThread {
  private readonly thread: WorkerThread<ToWorker, FromWorker>;
  private readonly bots = new Map<number, ThreadReplayer>();
  private nextKey = 1;

  constructor(file: string) {
    this.thread = new WorkerThread<ToWorker, FromWorker>(file, {
      onMessage: (m) => this.bots.get(m.key)?.receive(m.outcomes),
      onFail: (reason) => this.fail(`the bot replay thread ${reason}`),
    });
  }

  open(source: string, limits: unknown): ThreadReplayer {
    const key = this.nextKey++;
    const r = new ThreadReplayer(this, key);
    this.bots.set(key, r);
    this.post({ t: 'open', key, source, limits });
    if (this.thread.failed !== null) r.abandon(`the bot replay thread ${this.thread.failed}`);
    return r;
  }

  post(m: ToWorker): void {
    if (m.t === 'close') this.bots.delete(m.key);
    this.thread.post(m);
  }

  /** Keeps the process alive exactly while outcomes are owed (a CLI verify awaits them). */
  owe(delta: number): void {
    this.thread.owe(delta);
  }

  private fail(reason: string): void {
    if (thread === this) thread = null;
    for (const r of this.bots.values()) r.abandon(reason);
    this.bots.clear();
  }
}

class ThreadReplayer implements Replayer {
  private batch: string[] | null = null;
  private sent: { members: unknown; channel: unknown } | null = null;
  private readonly owed = new Owed();
  private closed = false;
  private abandoned: string | null = null;

  constructor(
    private readonly thread: ReplayThread,
    private readonly key: number,
  ) {}

  step(request: StepRequest, done: (outcome: StepOutcomeLite) => void): void {
    if (this.closed) throw new Error('replayer is closed');
    if (this.abandoned) return done({ status: 'unverifiable', reason: this.abandoned });
    this.owed.push(done);
    this.thread.owe(1);
    const { members, channel } = request;
    const membersText = !this.sent || this.sent.members !== members ? JSON.stringify(members) : '';
    const channelText = !this.sent || this.sent.channel !== channel ? JSON.stringify(channel) : '';
    this.sent = { members, channel };
    const rng = prngState(request.random);
    const line =
      `${HOOKS.indexOf(request.hook)}\t${request.now}\t${rng[0]}\t${rng[1]}\t${rng[2]}\t${rng[3]}\t` +
      `${membersText}\t${channelText}\t${JSON.stringify(request.arg ?? null)}`;
    if (!this.batch) {
      this.batch = [];
      queueMicrotask(() => this.flush());
    }
    this.batch.push(line);
    if (this.batch.length >= BATCH) this.flush();
  }

  private flush(): void {
    const b = this.batch;
    this.batch = null;
    if (b && !this.closed) this.thread.post({ t: 'steps', key: this.key, steps: b.join('\n') });
  }

  receive(text: string): void {
    for (const line of text.split('\n')) {
      if (this.closed || this.owed.size === 0) return;
      this.thread.owe(-1);
      this.owed.settle(parseOutcomeLine(line));
    }
  }

  /** The thread died: every owed step, and every later one, is unverifiable here. */
  abandon(reason: string): void {
    this.abandoned = reason;
    this.batch = null;
    while (this.owed.size > 0) {
      this.thread.owe(-1);
      this.owed.settle({ status: 'unverifiable', reason });
    }
  }

  idle(): Promise<void> {
    return this.owed.idle();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.batch = null;
    this.thread.owe(-this.owed.size);
    this.owed.drop();
    this.thread.post({ t: 'close', key: this.key });
  }
}

let thread: ReplayThread | null = null;

/**
 * A replayer for one bot: on the shared replay thread when it can run, inline otherwise. `workerFile` (tests) picks
 * the worker script, or inline with null; a given script gets a thread of its own.
 */
export function openReplayer(source: string, limits: unknown, options: { workerFile?: string | null } = {}): Replayer {
  const file =
    options.workerFile !== undefined
      ? options.workerFile
      : compiledWorker('./replay-worker.js', import.meta.url, 'PARLEY_REPLAY_THREAD');
  if (file === null) return new InlineReplayer(source, limits);
  if (options.workerFile !== undefined) return new ReplayThread(file).open(source, limits);
  thread ??= new ReplayThread(file);
  return thread.open(source, limits);
}
