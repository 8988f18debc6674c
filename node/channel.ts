/**
 * One channel as this node sees it: membership, the ingest pipeline, and one replica per epoch. Posting builds,
 * signs and seals an event and puts it into the current epoch's document; delivery (ours and others') comes back
 * through the replica's observer, so a local post and a remote one take the same path.
 */
import { EventEmitter } from 'node:events';
import { signEvent, type EpochContext, type EventBody, type EventType, MAX_DEPS, sealEvent } from '../protocol/event.js';
import { memberId, type KeyPair } from '../protocol/keys.js';
import { sealPresence, openPresence, type Presence } from '../protocol/presence.js';
import { decodeCanonical } from '../protocol/canonical.js';
import { Ingestor, type IngestEvent } from './ingest.js';
import { Membership } from './membership.js';
import { EpochReplica, type ReplicaEntry } from './replica.js';
import type { ChannelRow, DeliveredRow, LocalStore } from './store.js';
import { fromUtf8 } from '../protocol/bytes.js';

export interface DeliveredEvent {
  dnum: number | null;
  id: string;
  body: EventBody;
}

export class Channel extends EventEmitter {
  readonly membership: Membership;
  readonly ingestor: Ingestor;
  private readonly replicas = new Map<number, EpochReplica>();
  private readonly keys = new Map<number, Uint8Array>();
  readonly me: string;
  private presence: Omit<Presence, 'author' | 'ts'> = {};
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: LocalStore,
    public row: ChannelRow,
    private readonly identity: KeyPair,
    private readonly writer: string,
  ) {
    super();
    this.setMaxListeners(0);
    this.me = memberId(identity.publicKey);
    this.membership = new Membership(row.ch);
    this.ingestor = new Ingestor(
      (ev) => this.membership.refusal({ id: ev.id, type: ev.body.type, author: ev.body.author, lamport: ev.body.lamport, payload: ev.body.payload }),
      (ev) => this.delivered(ev),
    );
  }

  get ch(): string {
    return this.row.ch;
  }

  get epoch(): number {
    return Math.max(0, ...this.keys.keys());
  }

  epochContext(ep = this.epoch): EpochContext {
    const key = this.keys.get(ep);
    if (!key) throw new Error(`no key for epoch ${ep}`);
    return { ch: this.ch, ep, key };
  }

  /** Restores delivered state from the store, loads stored documents, connects to relays. */
  open(): void {
    for (const { ep, key } of this.store.epochKeys(this.ch)) this.keys.set(ep, key);
    const rows = this.store.deliveredAll(this.ch);
    this.ingestor.restore(
      rows.map((r) => ({ id: r.id, body: parseStoredBody(r) })),
      (id, body) => this.membership.apply({ id, type: body.type, author: body.author, lamport: body.lamport, payload: body.payload }),
    );
    for (const ep of this.keys.keys()) this.replica(ep).load();
    this.connect();
  }

  connect(): void {
    const relays = this.row.relays;
    for (const r of this.replicas.values()) r.connect(relays);
    if (!this.heartbeat) {
      this.heartbeat = setInterval(() => this.publishPresence(), 10_000);
      this.heartbeat.unref();
    }
  }

  addEpochKey(ep: number, key: Uint8Array): void {
    this.store.saveEpochKey(this.ch, ep, key);
    this.keys.set(ep, key);
  }

  replica(ep = this.epoch): EpochReplica {
    let r = this.replicas.get(ep);
    if (!r) {
      const key = this.keys.get(ep);
      if (!key) throw new Error(`no key for epoch ${ep}`);
      r = new EpochReplica(this.store, this.ch, ep, key, this.writer, (entries) => this.onEntries(ep, entries));
      this.replicas.set(ep, r);
      r.awareness.on('change', () => this.emit('presence'));
    }
    return r;
  }

  private onEntries(ep: number, entries: ReplicaEntry[]): void {
    const delivered = this.store.transaction(() => this.ingestor.ingest(entries, this.epochContext(ep)));
    if (delivered.length > 0) this.emit('delivered', delivered.length);
  }

  private delivered(ev: IngestEvent): void {
    const b = ev.body;
    this.membership.apply({ id: ev.id, type: b.type, author: b.author, lamport: b.lamport, payload: b.payload });
    this.store.deliver({
      ch: this.ch, ep: b.ep, id: ev.id, type: b.type, author: b.author, lamport: b.lamport, ts: b.ts,
      body: fromUtf8(ev.bodyBytes), sig: ev.signature,
    });
    if (b.type === 'channel.close' && !this.row.closed) this.saveRow({ closed: true });
    if (b.type === 'channel.update' && typeof b.payload.name === 'string') this.saveRow({ name: b.payload.name });
    this.emit('event', ev);
  }

  saveRow(patch: Partial<ChannelRow>): void {
    this.row = { ...this.row, ...patch };
    this.store.saveChannel(this.row);
  }

  /** Builds, signs, seals and stores one event of ours in the current epoch; returns its id. */
  post(type: EventType, payload: Record<string, unknown>, ep = this.epoch): string {
    const replica = this.replica(ep);
    return this.store.transaction(() => {
      replica.pollStore();
      const head = this.store.myHead(this.ch, ep);
      const deps = this.ingestor.currentHeads(MAX_DEPS).filter((d) => d !== head?.id).sort();
      let lamport = 1;
      for (const d of [...deps, ...(head ? [head.id] : [])]) lamport = Math.max(lamport, (this.ingestor.lamportOf(d) ?? 0) + 1);
      const body: EventBody = {
        v: 1, ch: this.ch, ep, type, author: this.me, seq: (head?.seq ?? 0) + 1, prev: head?.id ?? null, deps, lamport,
        ts: Date.now(), payload,
      };
      const { id, sealed } = sealEvent(signEvent(body, this.identity.secretKey), this.epochContext(ep));
      this.store.setMyHead(this.ch, ep, body.seq, id);
      replica.put(id, sealed);
      return id;
    });
  }

  pollStore(): void {
    for (const r of this.replicas.values()) r.pollStore();
  }

  setPresence(p: Omit<Presence, 'author' | 'ts'>): void {
    this.presence = { ...this.presence, ...p };
    this.publishPresence();
  }

  private publishPresence(): void {
    const epoch = this.epochContext();
    const blob = sealPresence({ author: this.me, ts: Date.now(), ...this.presence }, this.identity, epoch);
    this.replica().awareness.setLocalState({ p: blob });
  }

  /** Peers currently online (valid presence in the current epoch's awareness), by member id. */
  online(): Map<string, Presence> {
    const out = new Map<string, Presence>();
    const replica = this.replica();
    const epoch = this.epochContext();
    for (const [client, state] of replica.awareness.getStates()) {
      if (client === replica.doc.clientID) continue;
      const p = openPresence((state as { p?: unknown }).p, epoch);
      if (p) out.set(p.author, p);
    }
    return out;
  }

  isSynced(): boolean {
    return this.replica().isSynced();
  }

  waitSynced(timeoutMs: number): Promise<boolean> {
    return this.replica().waitSynced(timeoutMs);
  }

  relays() {
    return this.replica().relays();
  }

  maintenance(): void {
    for (const r of this.replicas.values()) r.maybeCompact();
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    for (const r of this.replicas.values()) r.close();
    this.replicas.clear();
    this.removeAllListeners();
  }
}

export function parseStoredBody(r: DeliveredRow): EventBody {
  return decodeCanonical(r.body) as unknown as EventBody;
}
