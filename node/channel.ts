/**
 * One channel as this node sees it: a small composition of parts that each own one job (node/channel/):
 *
 *   epochs.ts           keys and one replica per epoch, older epochs let go
 *   epoch-keys.ts       keys picked up, made by a rotation, handed to a member admitted from an old epoch
 *   ingest-pipeline.ts  when received entries are opened and admitted (node/ingest.ts judges them), deferred work
 *   authoring.ts        our own events: build → sign → seal → store → deliver, one way
 *   authority.ts        owner and admin reactions to deliveries: admit claims, rotate after a removal
 *   presence.ts         our presence and beacons, who is online, withholding findings
 *   bot-wiring.ts       the channel's bots wired to this node: seeds, steps, attach and hand-over
 *   dormancy.ts         whether the channel may go dormant (node/dormant.ts)
 *
 * What stays here is what ties them together: delivery of an event (`delivered`) and the public surface the node's
 * tools and service use.
 */
import { EventEmitter } from 'node:events';
import type { ChannelBots } from '../bots/channel-bots.js';
import type { Limits } from '../bots/sandbox.js';
import type { EpochContext, EventBody, EventType } from '../protocol/event.js';
import { memberId, type KeyPair } from '../protocol/keys.js';
import type { Presence } from '../protocol/presence.js';
import { Ingestor, type IngestEvent } from './ingest.js';
import { Membership } from './membership.js';
import { startOpenThread } from './opener.js';
import type { RelayPool } from './relay-connection.js';
import type { EpochReplica, RelayState } from './replica.js';
import type { ChannelRow, DeliveredRow, DormantEpoch, LocalStore } from './store.js';
import { Authoring } from './channel/authoring.js';
import { Authority } from './channel/authority.js';
import { attachBot, createBots, handOverBot, type BotWiringDeps } from './channel/bot-wiring.js';
import { dormantEpochs } from './channel/dormancy.js';
import { EpochKeys } from './channel/epoch-keys.js';
import { Epochs } from './channel/epochs.js';
import { IngestPipeline } from './channel/ingest-pipeline.js';
import { ChannelPresence } from './channel/presence.js';

export interface DeliveredEvent {
  dnum: number | null;
  id: string;
  body: EventBody;
}

export class Channel extends EventEmitter {
  readonly membership: Membership;
  readonly ingestor: Ingestor;
  readonly bots: ChannelBots;
  readonly me: string;
  private readonly epochs: Epochs;
  private readonly keys: EpochKeys;
  private readonly pipeline: IngestPipeline;
  private readonly authoring: Authoring;
  private readonly authority: Authority;
  private readonly presence: ChannelPresence;
  private readonly botWiring: BotWiringDeps;
  private closedLocally = false;
  /** When something last happened here (a delivery, a post, a tool naming the channel, a peer's presence). */
  private lastActive = Date.now();

  // Long: the wiring of the parts, one block each, reads best in one place.
  constructor(
    private readonly store: LocalStore,
    public row: ChannelRow,
    identity: KeyPair,
    writer: string,
    pool: RelayPool,
  ) {
    super();
    this.setMaxListeners(0);
    const ch = row.ch;
    this.me = memberId(identity.publicKey);
    const membership = new Membership(ch);
    this.membership = membership;
    const ingestor = new Ingestor(
      (id, body) => membership.refusal(id, body),
      (ev) => this.delivered(ev),
      (ev, reason) => store.addRefused(ch, { id: ev.id, body: ev.bodyText, sig: ev.signature, reason }),
      (ev) => this.keys.early(ev),
    );
    this.ingestor = ingestor;
    const epochs = new Epochs(store, ch, writer, pool, membership, {
      onEntries: (ep, entries) => this.pipeline.onEntries(ep, entries),
      onPending: () => this.pipeline.scheduleFlush(),
      problem: (line) => ingestor.problem(line),
      onReplica: (ep, replica) => this.presence.watch(ep, replica),
    });
    this.epochs = epochs;
    // What most parts take; each part's own interface says which of these it uses.
    const shared = {
      ch,
      me: this.me,
      identity,
      store,
      membership,
      ingestor,
      epochs,
      isClosed: () => this.closedLocally,
      context: (ep: number) => epochs.context(ep),
      epoch: () => this.epoch,
      post: (type: EventType, payload: Record<string, unknown>, ep?: number, deps?: string[]) =>
        this.post(type, payload, ep, deps),
      later: (job: () => void) => this.pipeline.later(job),
      delivered: (n: number) => this.afterDelivery(n),
    };
    this.pipeline = new IngestPipeline({
      ...shared,
      flushUpdates: () => {
        for (const r of epochs.replicas.values()) r.flushUpdates();
      },
      fault: (err) => this.emit('fault', err),
    });
    this.presence = new ChannelPresence({
      ...shared,
      relays: () => this.relays(),
      changed: () => {
        this.touch();
        this.emit('presence');
      },
    });
    this.botWiring = {
      ...shared,
      name: () => membership.name || this.row.name,
      mismatch: (claim) => this.emit('mismatch', claim),
    };
    this.bots = createBots(this.botWiring);
    this.keys = new EpochKeys({
      ...shared,
      botCheckpoints: () => this.bots.checkpoints(),
      linkEpoch: (ep) => {
        this.saveRow({ epoch: ep });
        this.connect();
      },
      announceEpoch: (ep) => {
        this.presence.publish();
        this.emit('epoch', ep);
      },
    });
    this.authoring = new Authoring({ ...shared, pipeline: this.pipeline, replica: (ep) => epochs.replica(ep) });
    this.authority = new Authority({
      ...shared,
      keys: this.keys,
      currentHeads: (max) => ingestor.currentHeads(max),
      isSynced: () => this.isSynced(),
      waitSynced: (ms) => this.waitSynced(ms),
      ingestIdle: () => this.ingestIdle(),
    });
  }

  /** Owner: attach a bot (node/channel/bot-wiring.ts). */
  attachBot(slot: string, source: string, params: Record<string, unknown>, secret: boolean, limits?: Limits): string {
    return attachBot(this.botWiring, slot, source, params, secret, limits);
  }

  /** Hands a bot's runner role to `to` (a member id) from the next step (node/channel/bot-wiring.ts). */
  handOverBot(slot: string, to: string, toPublicKey: Uint8Array): number {
    return handOverBot(this.botWiring, this.bots, slot, to, toPublicKey);
  }

  get ch(): string {
    return this.row.ch;
  }

  get epoch(): number {
    return this.epochs.current;
  }

  epochContext(ep = this.epoch): EpochContext {
    return this.epochs.context(ep);
  }

  /** Restores delivered state from the store, loads stored documents, connects to relays. */
  open(): void {
    startOpenThread();
    this.epochs.loadKeys();
    const rows = this.store.deliveredAll(this.ch);
    this.ingestor.restore(
      rows.map((r) => ({ id: r.id, body: parseStoredBody(r) })),
      (id, body) => {
        this.membership.apply(id, body);
        this.bots.deliver({ id, body }, true);
      },
    );
    this.bots.resume();
    this.epochs.loadDocuments();
    this.connect();
    this.authority.admitWaiting();
  }

  /** Links each epoch's room on the channel's relays, except older epochs already let go. */
  connect(): void {
    this.epochs.connect(this.row.relays);
    if (!this.presence.published) this.presence.publish();
  }

  /**
   * The node's periodic work for this channel (one timer for all channels, node/service.ts): renew our presence
   * while peers are there to see it, drop peers' stale presence, and let go of older epochs no longer needed.
   */
  tick(now = Date.now()): void {
    if (this.closedLocally) return;
    this.presence.heartbeat(now);
    this.epochs.letGoIdle(now);
  }

  addEpochKey(ep: number, key: Uint8Array): void {
    this.epochs.addKey(ep, key);
  }

  replica(ep = this.epoch): EpochReplica {
    return this.epochs.replica(ep);
  }

  /** Stores pending document updates and ingests pending entries (node/channel/ingest-pipeline.ts). */
  flush(): void {
    this.pipeline.flush();
  }

  /** Resolves once every entry received so far has been opened and admitted (delivered, waiting, or refused). */
  ingestIdle(): Promise<void> {
    return this.pipeline.ingestIdle();
  }

  private afterDelivery(n: number): void {
    if (n === 0) return;
    this.touch();
    this.emit('delivered', n);
    this.presence.scheduleBeacon();
  }

  /** One event delivered (ours or another member's): stored, applied, and reacted to. */
  private delivered(ev: IngestEvent): void {
    const b = ev.body;
    this.membership.apply(ev.id, b);
    this.store.deliver({
      ch: this.ch,
      ep: b.ep,
      id: ev.id,
      type: b.type,
      author: b.author,
      seq: b.seq,
      lamport: b.lamport,
      ts: b.ts,
      body: ev.bodyText,
      sig: ev.signature,
    });
    if (b.type === 'channel.close' && !this.row.closed) this.saveRow({ closed: true });
    this.keys.fromDelivery(ev);
    this.authority.react(ev);
    this.bots.deliver({ id: ev.id, body: b });
    if (b.type === 'channel.update' && typeof b.payload.name === 'string') this.saveRow({ name: b.payload.name });
    this.emit('event', ev);
  }

  /** Owner or admin: start a new epoch whose key only the remaining members receive. */
  rotate(): number {
    return this.keys.rotate();
  }

  saveRow(patch: Partial<ChannelRow>): void {
    this.row = { ...this.row, ...patch };
    this.store.saveChannel(this.row);
  }

  /** Posts one event of ours in epoch `ep` and returns its id; see node/channel/authoring.ts for the write path. */
  post(type: EventType, payload: Record<string, unknown>, ep = this.epoch, pinnedDeps?: string[]): string {
    this.touch();
    return this.authoring.post(type, payload, ep, pinnedDeps);
  }

  pollStore(): void {
    for (const r of this.epochs.replicas.values()) r.pollStore();
  }

  setPresence(p: Omit<Presence, 'author' | 'ts'>): void {
    this.presence.set(p);
  }

  /** Withholding findings, one sentence each (empty when every claimed event arrived or relays are unreachable). */
  withholding(): string[] {
    return this.presence.withholding();
  }

  /** Relay updates refused before they reached a replica (any epoch), one line per relay and reason. */
  refusedRelays(): string[] {
    return this.presence.refusedRelays();
  }

  /** Peers currently online (valid presence in the current epoch's awareness), by member id. */
  online(): Map<string, Presence> {
    return this.presence.online();
  }

  isSynced(): boolean {
    return this.replica().isSynced();
  }

  waitSynced(timeoutMs: number): Promise<boolean> {
    return this.replica().waitSynced(timeoutMs);
  }

  relays(): RelayState[] {
    return this.replica().relays();
  }

  /** Something happened here: the channel stays loaded at least `idleMs` longer (see `dormantState`). */
  touch(now = Date.now()): void {
    this.lastActive = now;
  }

  /**
   * The epochs to keep linked and their state vectors, if this channel may go dormant now (node/dormant.ts): idle for
   * `idleMs` (unless the node is stopping) and nothing left to do or watch (node/channel/dormancy.ts). Null otherwise.
   */
  dormantState(now: number, idleMs: number, stopping = false): DormantEpoch[] | null {
    if (this.closedLocally || (!stopping && now - this.lastActive < idleMs)) return null;
    const ingesting = this.pipeline.busy || this.ingestor.pendingCount() > 0;
    const view = { me: this.me, membership: this.membership, epochs: this.epochs, ingesting };
    return dormantEpochs({ ...view, withholding: () => this.withholding() }, stopping);
  }

  maintenance(): void {
    for (const r of this.epochs.replicas.values()) r.maybeCompact();
  }

  close(): void {
    this.pipeline.close();
    this.closedLocally = true;
    this.presence.close();
    this.epochs.close();
    this.bots.close();
    this.removeAllListeners();
  }
}

/** A body from this node's own store: it was checked to be canonical when it was delivered, so plain JSON.parse. */
export function parseStoredBody(r: Pick<DeliveredRow, 'body'>): EventBody {
  return JSON.parse(r.body) as EventBody;
}
