/**
 * The node's channels and the one timer that keeps them: every active channel is in exactly one of three states.
 * Open (`channels`: loaded, synced, ticking); not opened yet (`unopened`: at start-up, or just woken, opened in
 * background slices between tool calls); dormant (`dormant`, node/dormant.ts: nothing to do, linked to its relay
 * rooms but not loaded). The ticker polls the store for other processes' writes, ticks open channels, puts idle
 * ones to sleep and runs maintenance; its idle cost does not grow with the number of channels.
 */
import { Channel } from './channel.js';
import { dormantAfterMs, storePollMs } from './config.js';
import { DormantChannel } from './dormant.js';
import { ToolError } from './errors.js';
import { writeFraudProof } from './fraud-proof.js';
import type { KeyPair } from '../protocol/keys.js';
import type { RelayPool } from './relay-connection.js';
import type { ChannelRow, DormantEpoch, LocalStore } from './store.js';

/** Folding each epoch's stored document updates into one row (node/replica.ts maybeCompact). */
const MAINTENANCE_MS = 60_000;
/** Each channel's periodic work (presence, older epochs: Channel.tick) runs this often. */
const CHANNEL_TICK_MS = 2000;
/** The background opener yields to tool calls after this much work. */
const OPEN_SLICE_MS = 20;

export interface RegistryOptions {
  home: string;
  store: LocalStore;
  identity: KeyPair;
  pool: RelayPool;
  /** This process's id in the store: the store poll skips the document rows it wrote itself. */
  writer: string;
  env: NodeJS.ProcessEnv;
  /** Something was delivered: in channel `ch`, or (null) somewhere, by another process on this profile. */
  onDelivered: (ch: string | null) => void;
}

export class ChannelRegistry {
  readonly channels = new Map<string, Channel>();
  readonly dormant = new Map<string, DormantChannel>();
  readonly unopened = new Map<string, ChannelRow>();
  private readonly store: LocalStore;
  private readonly dormantAfter: number;
  private readonly ticker: NodeJS.Timeout;
  private lastDocRow: number;
  private lastDnum: number;
  private lastChannelTick = Date.now();
  private lastMaintenance = Date.now();
  private readonly allOpen: Promise<void>;
  private openedAll!: () => void;
  /** The background opener is scheduled. */
  private opening = false;
  private closed = false;
  /**
   * The dormant records of channels not opened since start-up, read in the opener's first slice (so the MCP server
   * answers before it), with their epoch keys. The opener links these channels dormant instead of opening them.
   */
  private startup: { records: Map<string, DormantEpoch[]>; keys: Map<string, Map<number, Uint8Array>> } | null = null;
  /** Channels start-up linked dormant. */
  startedDormant = 0;

  constructor(private readonly o: RegistryOptions) {
    this.store = o.store;
    this.lastDnum = o.store.maxDnum();
    this.lastDocRow = o.store.maxDocRow();
    this.dormantAfter = dormantAfterMs(o.env);
    for (const row of o.store.channels()) if (row.status === 'active') this.unopened.set(row.ch, row);
    this.allOpen = new Promise((resolve) => (this.openedAll = resolve));
    // The MCP server answers at once; channels are linked dormant or opened in the background, or on first use.
    this.scheduleOpening();
    this.ticker = setInterval(() => this.tick(), storePollMs());
    this.ticker.unref();
  }

  /** Resolves once every channel active at start-up is open or linked dormant. */
  opened(): Promise<void> {
    return this.allOpen;
  }

  /** Every active channel's stored row, open, dormant or not opened yet (cheap: nothing is loaded). */
  rows(): ChannelRow[] {
    return [
      ...[...this.channels.values()].map((c) => c.row),
      ...[...this.dormant.values()].map((d) => d.row),
      ...this.unopened.values(),
    ];
  }

  /** The open channel `ch`, opening it now if it is active but not open; undefined if it is not active here. */
  get(ch: string): Channel | undefined {
    return this.channels.get(ch) ?? this.openNow(ch);
  }

  /** Finds a channel by id or by its exact name, opening it if needed. */
  find(ref: string): Channel {
    const byId = this.get(ref);
    if (byId) return byId;
    const named = this.rows().filter((row) => row.name === ref);
    if (named.length === 1) return this.get(named[0].ch)!;
    if (named.length > 1) throw new ToolError(`Several channels are named "${ref}"; pass the channel id instead.`);
    throw new ToolError(`Unknown channel "${ref}"; call list_channels to see the channels you are in.`);
  }

  /** A channel for `row`, not registered: join_channel checks it before it `adopt`s it. */
  create(row: ChannelRow): Channel {
    return new Channel(this.store, row, this.o.identity, this.o.writer, this.o.pool);
  }

  /** Opens a stored active channel and registers it. */
  openChannel(row: ChannelRow): Channel {
    this.unopened.delete(row.ch);
    this.startup?.records.delete(row.ch);
    const channel = this.create(row);
    this.adopt(channel);
    channel.open();
    return channel;
  }

  /** Registers an opened channel and listens to it. */
  adopt(channel: Channel): void {
    this.channels.set(channel.ch, channel);
    channel.on('delivered', () => this.notify(channel.ch));
    channel.on('fault', (err) => this.recover(channel, err));
    // The proof is written once the bots have handled everything delivered so far (the claimed step among it).
    channel.on('mismatch', (claim) => {
      void channel.bots
        .idle()
        .then(() => !this.closed && writeFraudProof(this.o.home, this.store, channel, claim))
        .catch((err) => console.error(`parley: could not write a fraud proof: ${String(err)}`));
    });
  }

  /** Closes an open channel and forgets it (left, or rejected at join). */
  drop(channel: Channel): void {
    this.channels.delete(channel.ch);
    channel.close();
  }

  /**
   * The store failed under a channel (a full disk): its in-memory state may be ahead of what was stored, so it is
   * closed and opened again from the store. Nothing of ours was sent that is not stored (posts are write-ahead), and
   * what came from relays and was not stored comes again.
   */
  recover(channel: Channel, err: unknown): void {
    if (this.closed || this.channels.get(channel.ch) !== channel) return;
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    console.error(
      `parley: the local store failed in channel "${channel.row.name}" (${why}); reloading the channel from the store`,
    );
    this.channels.delete(channel.ch);
    channel.close();
    const row = this.store.channels().find((r) => r.ch === channel.ch);
    if (row?.status === 'active') this.openChannel(row);
  }

  /** Stops the ticker and closes every channel; those with nothing to do start dormant next time. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    this.putToSleep(Date.now(), true);
    for (const c of this.channels.values()) c.close();
    for (const d of this.dormant.values()) d.close();
    this.dormant.clear();
    this.channels.clear();
    this.unopened.clear();
  }

  private scheduleOpening(): void {
    if (this.opening) return;
    this.opening = true;
    setImmediate(() => this.openInBackground());
  }

  private openInBackground(): void {
    this.opening = false;
    if (this.closed) return this.openedAll();
    if (!this.startup) {
      // Reading the records is a slice of its own (about 30 ms at 3,000 channels): a tool call may come between.
      this.startup = this.readStartup();
      return this.scheduleOpening();
    }
    const startup = this.startup;
    const stop = performance.now() + OPEN_SLICE_MS;
    for (const row of this.unopened.values()) {
      const epochs = startup.records.get(row.ch);
      if (epochs) {
        this.unopened.delete(row.ch);
        startup.records.delete(row.ch);
        this.sleep(row, epochs, (ep) => startup.keys.get(row.ch)?.get(ep));
        if (this.dormant.has(row.ch)) this.startedDormant++;
      } else this.openChannel(row);
      if (performance.now() > stop) return this.scheduleOpening();
    }
    startup.keys.clear();
    this.openedAll();
  }

  /** The dormant records of the channels still waiting to open, and their keys (node/dormant.ts). */
  private readStartup() {
    const records = this.store.dormantChannels();
    for (const ch of records.keys()) if (!this.unopened.has(ch)) records.delete(ch);
    return { records, keys: records.size > 0 ? this.store.allEpochKeys() : new Map() };
  }

  /**
   * A dormant channel woke (something arrived for it): it joins the channels the background opener opens, so a
   * thousand waking at once (a peer's node coming online in all of them) open in slices between tool calls.
   */
  private wake(ch: string): void {
    const d = this.dormant.get(ch);
    if (!d || this.closed) return;
    this.dormant.delete(ch);
    d.close();
    this.unopened.set(ch, d.row);
    this.scheduleOpening();
  }

  /** Opens an active channel not opened yet or dormant, now (a tool named it, or it woke). */
  private openNow(ch: string): Channel | undefined {
    const d = this.dormant.get(ch);
    if (d) {
      this.dormant.delete(ch);
      d.close();
      return this.openChannel(d.row);
    }
    const row = this.unopened.get(ch);
    return row ? this.openChannel(row) : undefined;
  }

  /**
   * Links a channel dormant (node/dormant.ts) on the epochs it recorded, with their keys from `keyOf`; it opens in
   * full when it wakes. A channel missing a key opens in full now instead.
   */
  private sleep(row: ChannelRow, epochs: DormantEpoch[], keyOf: (ep: number) => Uint8Array | undefined): void {
    const linked = epochs.map((e) => ({ ...e, key: keyOf(e.ep) }));
    if (!linked.every((e): e is DormantEpoch & { key: Uint8Array } => e.key !== undefined)) {
      return void this.unopened.set(row.ch, row);
    }
    this.dormant.set(row.ch, new DormantChannel(row, linked, this.o.pool, (ch) => this.wake(ch)));
  }

  /** Channels idle long enough, with nothing to do, go dormant: their state is recorded and their memory freed. */
  private putToSleep(now: number, stopping = false): void {
    for (const c of this.channels.values()) {
      const epochs = c.dormantState(now, this.dormantAfter, stopping);
      if (!epochs) continue;
      try {
        this.store.saveDormant(c.ch, epochs);
      } catch {
        // A failing store: the channel stays open (and opens in full at the next start).
        continue;
      }
      if (stopping) continue;
      // Every epoch it reports has a replica, so a key.
      const keys = new Map(epochs.map((e) => [e.ep, c.epochContext(e.ep).key]));
      this.channels.delete(c.ch);
      c.close();
      this.sleep(c.row, epochs, (ep) => keys.get(ep));
    }
  }

  private tick(): void {
    if (this.closed) return;
    this.pollStore();
    const now = Date.now();
    if (now - this.lastChannelTick >= CHANNEL_TICK_MS) {
      this.lastChannelTick = now;
      for (const c of this.channels.values()) c.tick(now);
      this.putToSleep(now);
    }
    if (now - this.lastMaintenance >= MAINTENANCE_MS) {
      this.lastMaintenance = now;
      for (const c of this.channels.values()) c.maintenance();
    }
  }

  /**
   * Other processes on this profile write to the same store: pick up their document updates and deliveries. Idle,
   * this is two index lookups, whatever the number of channels.
   */
  private pollStore(): void {
    const maxRow = this.store.maxDocRow();
    if (maxRow !== this.lastDocRow) {
      // A dormant channel another process wrote to wakes: what was written may need sending. One not linked yet
      // loses its start-up record, which is older than the write, so it opens in full.
      for (const ch of this.store.docsWrittenSince(this.lastDocRow, this.o.writer)) {
        this.startup?.records.delete(ch);
        (this.channels.get(ch) ?? (this.dormant.has(ch) ? this.openNow(ch) : undefined))?.pollStore();
      }
      this.lastDocRow = maxRow;
    }
    const max = this.store.maxDnum();
    if (max !== this.lastDnum) {
      this.lastDnum = max;
      this.o.onDelivered(null);
    }
  }

  private notify(ch: string): void {
    this.lastDnum = this.store.maxDnum();
    this.o.onDelivered(ch);
  }
}
