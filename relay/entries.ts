/**
 * A room's `log` entries in memory: per Yjs client, clocks 0..n-1 with no gap (the relay accepts only new entries
 * with consecutive clocks, so this is the room's whole state), their keys, and the counts the quotas read.
 */
import * as encoding from 'lib0/encoding';
import type { LogEntry } from '../protocol/log-update.js';

export class RoomEntries {
  /** Entries per Yjs client; index = clock. */
  private readonly byClient = new Map<number, LogEntry[]>();
  private readonly keys = new Set<string>();
  private entryCount = 0;
  /** Bytes of entry values in the room (for the room quota). */
  private bytes = 0;

  constructor(private readonly name: string) {}

  get size(): number {
    return this.entryCount;
  }

  get valueBytes(): number {
    return this.bytes;
  }

  /** The next clock of a Yjs client: how many of its entries the room holds. */
  clock(client: number): number {
    return this.byClient.get(client)?.length ?? 0;
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  remember(e: LogEntry): void {
    let list = this.byClient.get(e.client);
    if (!list) {
      list = [];
      this.byClient.set(e.client, list);
    }
    if (e.clock !== list.length)
      throw new Error(`relay storage: room ${this.name} has a clock gap for client ${e.client}`);
    list.push(e);
    this.keys.add(e.key);
    this.entryCount++;
    this.bytes += e.value.length;
  }

  /** Forgets everything (a partial load). */
  reset(): void {
    this.byClient.clear();
    this.keys.clear();
    this.entryCount = 0;
    this.bytes = 0;
  }

  stateVector(): Uint8Array {
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, this.byClient.size);
    for (const [client, list] of this.byClient) {
      encoding.writeVarUint(e, client);
      encoding.writeVarUint(e, list.length);
    }
    return encoding.toUint8Array(e);
  }

  /**
   * The entries a state vector lacks, client by client. The ranges are taken now: entry lists only grow, so they
   * stay valid while the answer is streamed.
   */
  missing(sv: Map<number, number>): Iterable<LogEntry> {
    const ranges: [LogEntry[], number, number][] = [];
    for (const [client, list] of this.byClient) {
      const from = sv.get(client) ?? 0;
      if (from < list.length) ranges.push([list, from, list.length]);
    }
    return (function* () {
      for (const [list, from, to] of ranges) for (let clock = from; clock < to; clock++) yield list[clock];
    })();
  }
}
