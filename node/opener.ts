/**
 * Opens large batches of sealed entries (node/open-batch.ts) on a worker thread, node/open-worker.ts.
 *
 * A node joining a long history spends most of its time hashing, decrypting and checking entries, and none of that
 * needs the node's state. One thread per process opens every large batch (a relay's history arrives in messages of
 * hundreds of entries) while the node's own thread goes on with causal delivery and storing; on two cores the two
 * overlap. Small batches (live chat) are opened inline: a thread round trip would only add latency.
 *
 * Entries cross as one buffer of values plus their keys as text; results come back as the accepted bodies' texts,
 * their signatures in one buffer, and the refusals as text. V8 copies strings and transfers buffers far faster than
 * it clones objects. The thread is our own code, so the main thread parses the bodies it sends back without
 * checking them again. If the worker's compiled file does not exist (sources under vitest), PARLEY_OPEN_THREAD=0 is
 * set, or the thread dies, batches are opened inline; batches the thread held when it died are opened inline then.
 */
import { compiledWorker, WorkerThread } from '../runtime/worker-thread.js';
import type { EpochContext, EventBody } from '../protocol/event.js';
import { SIGNATURE_BYTES } from '../protocol/event.js';
import { openBatch, type OpenedBatch, type SealedEntry } from './open-batch.js';

/** Batches smaller than this are opened inline. */
export const THREAD_MIN_ENTRIES = 64;
/**
 * Larger batches go to the thread in parts of at most this many entries (a node catching up may gather thousands
 * into one batch). The node's thread then admits one part while the next is opened, and fewer objects are alive
 * at once on the open thread: with whole batches of ~5,000 entries its young-generation collections took ~3 µs per
 * entry (`npm run bench -- join`, measured with a perf_hooks GC observer), with parts of 512 about 1 µs.
 */
export const OPEN_PART = 512;

export interface OpenRequest {
  id: number;
  ch: string;
  ep: number;
  key: Uint8Array;
  /** The entries' keys, one per line (content ids are base64url, which never holds a newline). */
  keys: string;
  /** The values end to end; entry i is data[ends[i-1] .. ends[i]]. */
  data: Uint8Array;
  ends: Uint32Array;
}

export interface OpenResponse {
  id: number;
  /** Accepted bodies' canonical texts, one per line (canonical JSON never holds a raw newline). */
  texts: string;
  /** The entry index of each accepted body. */
  index: Uint32Array;
  /** Their signatures, end to end. */
  sigs: Uint8Array;
  /** One line per refused entry: its index, a tab, the reason. */
  refused: string;
}

export function encodeRequest(
  id: number,
  entries: readonly SealedEntry[],
  epoch: EpochContext,
): { message: OpenRequest; transfer: ArrayBuffer[] } {
  let total = 0;
  for (const e of entries) total += e.value.length;
  const data = new Uint8Array(total);
  const ends = new Uint32Array(entries.length);
  const keys: string[] = new Array(entries.length);
  let at = 0;
  for (let i = 0; i < entries.length; i++) {
    data.set(entries[i].value, at);
    at += entries[i].value.length;
    ends[i] = at;
    keys[i] = entries[i].key;
  }
  const message = { id, ch: epoch.ch, ep: epoch.ep, key: epoch.key, keys: keys.join('\n'), data, ends };
  return { message, transfer: [data.buffer, ends.buffer] };
}

export function decodeRequest(m: OpenRequest): { entries: SealedEntry[]; epoch: EpochContext } {
  const keys = m.keys.split('\n');
  const entries: SealedEntry[] = new Array(keys.length);
  let start = 0;
  for (let i = 0; i < keys.length; i++) {
    entries[i] = { key: keys[i], value: m.data.subarray(start, m.ends[i]) };
    start = m.ends[i];
  }
  return { entries, epoch: { ch: m.ch, ep: m.ep, key: m.key } };
}

export function encodeResponse(id: number, batch: OpenedBatch): { message: OpenResponse; transfer: ArrayBuffer[] } {
  const n = batch.events.length;
  const texts: string[] = new Array(n);
  const index = new Uint32Array(n);
  const sigs = new Uint8Array(n * SIGNATURE_BYTES);
  for (let i = 0; i < n; i++) {
    const { index: at, event } = batch.events[i];
    texts[i] = event.bodyText;
    index[i] = at;
    sigs.set(event.signature, i * SIGNATURE_BYTES);
  }
  const refused = batch.refused.map((r) => `${r.index}\t${r.reason}`).join('\n');
  return { message: { id, texts: texts.join('\n'), index, sigs, refused }, transfer: [index.buffer, sigs.buffer] };
}

export function decodeResponse(m: OpenResponse, entries: readonly SealedEntry[]): OpenedBatch {
  const events: OpenedBatch['events'] = [];
  if (m.index.length > 0) {
    const texts = m.texts.split('\n');
    for (let i = 0; i < texts.length; i++) {
      const body = JSON.parse(texts[i]) as EventBody;
      const signature = m.sigs.subarray(i * SIGNATURE_BYTES, (i + 1) * SIGNATURE_BYTES);
      const index = m.index[i];
      events.push({
        index,
        event: {
          id: entries[index].key,
          body,
          bodyText: texts[i],
          signature,
          lamport: body.lamport,
          deps: body.deps,
          prev: body.prev,
        },
      });
    }
  }
  const refused =
    m.refused === ''
      ? []
      : m.refused.split('\n').map((line) => {
          const tab = line.indexOf('\t');
          return { index: Number(line.slice(0, tab)), reason: line.slice(tab + 1) };
        });
  return { events, refused };
}

interface Pending {
  entries: readonly SealedEntry[];
  epoch: EpochContext;
  resolve: (batch: OpenedBatch) => void;
}

/** The process's open thread. */
class OpenThread {
  private readonly thread: WorkerThread<OpenRequest, OpenResponse>;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Batches the thread itself answered (the others, if it died, were opened inline). */
  answered = 0;

  constructor(file: string) {
    this.thread = new WorkerThread<OpenRequest, OpenResponse>(file, {
      onMessage: (m) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.answered++;
        this.settle(m.id);
        p.resolve(decodeResponse(m, p.entries));
      },
      onFail: () => this.fail(),
    });
  }

  open(entries: readonly SealedEntry[], epoch: EpochContext): Promise<OpenedBatch> {
    if (this.thread.failed !== null) return Promise.resolve(openBatch(entries, epoch));
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.thread.owe(1);
      this.pending.set(id, { entries, epoch, resolve });
      const { message, transfer } = encodeRequest(id, entries, epoch);
      this.thread.post(message, transfer);
    });
  }

  private settle(id: number): void {
    if (this.pending.delete(id)) this.thread.owe(-1);
  }

  /** The thread is gone: later batches open inline, and so do the ones it held (in the order they were sent). */
  private fail(): void {
    if (thread === this) {
      thread = null;
      threadFile = null;
    }
    for (const [id, p] of this.pending) {
      this.settle(id);
      p.resolve(openBatch(p.entries, p.epoch));
    }
  }

  close(): Promise<number> {
    return this.thread.terminate();
  }
}

let thread: OpenThread | null = null;
let threadFile: string | null | undefined;

/**
 * Opens a batch on the open thread, in parts of at most OPEN_PART entries, or returns null when it should be opened
 * inline (small batch, no thread). Parts come back in the order they were sent.
 */
export function openOnThread<E extends SealedEntry>(
  entries: readonly E[],
  epoch: EpochContext,
): { entries: E[]; opened: Promise<OpenedBatch> }[] | null {
  if (entries.length < THREAD_MIN_ENTRIES) return null;
  // Keys travel one per line; Ingestor.claim already refused any that is not a content id, this only makes sure.
  if (entries.some((e) => e.key.includes('\n'))) return null;
  const t = startOpenThread();
  if (!t) return null;
  const parts: { entries: E[]; opened: Promise<OpenedBatch> }[] = [];
  for (let i = 0; i < entries.length; i += OPEN_PART) {
    const part = entries.slice(i, i + OPEN_PART);
    parts.push({ entries: part, opened: t.open(part, epoch) });
  }
  return parts;
}

/**
 * Starts the open thread if it can run and is not running yet. A channel calls this when it opens, so the thread's
 * start-up (loading its modules and the crypto library, ~0.1 s) overlaps connecting to the relays instead of delaying
 * the first batch.
 */
export function startOpenThread(): OpenThread | null {
  if (!thread) {
    if (threadFile === undefined)
      threadFile = compiledWorker('./open-worker.js', import.meta.url, 'PARLEY_OPEN_THREAD');
    if (threadFile === null) return null;
    thread = new OpenThread(threadFile);
  }
  return thread;
}

/** A thread of its own on a given worker script (tests: a real thread from sources, or one that dies). */
export function openThreadFor(file: string): {
  open: (entries: readonly SealedEntry[], epoch: EpochContext) => Promise<OpenedBatch>;
  answered: () => number;
  close: () => Promise<number>;
} {
  const t = new OpenThread(file);
  return { open: (entries, epoch) => t.open(entries, epoch), answered: () => t.answered, close: () => t.close() };
}
