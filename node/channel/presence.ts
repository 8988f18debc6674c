/**
 * Our presence in a channel and what peers' presence tells us: the sealed presence we publish (with a frontier
 * beacon: the highest seq we delivered per author), who is online, and withholding findings, when a peer's beacon
 * claims events no relay of ours delivered (node/withholding.ts). Also the relays' refusals, for `verify_channel`.
 */
import type { EpochContext } from '../../protocol/event.js';
import type { KeyPair } from '../../protocol/keys.js';
import { openPresence, sealPresence, type Presence } from '../../protocol/presence.js';
import { withholdGraceMs } from '../config.js';
import type { Ingestor } from '../ingest.js';
import type { Membership } from '../membership.js';
import { describeRefusal } from '../relay-guard.js';
import type { EpochReplica, RelayState } from '../replica.js';
import { RoomLink } from '../room-link.js';
import { describeWithholding, FrontierWatch } from '../withholding.js';
import type { Epochs } from './epochs.js';

/** Authors listed in a frontier beacon (keeps the sealed presence well under its size limit). */
const BEACON_AUTHORS = 128;
/** A delivery republishes the beacon at most this often; the heartbeat covers quiet times. */
const BEACON_THROTTLE_MS = 1000;
/** With peers online, our presence is renewed this often (the relay and peers drop it after 30 s). */
const HEARTBEAT_MS = 10_000;

export interface PresenceDeps {
  me: string;
  identity: KeyPair;
  membership: Membership;
  ingestor: Ingestor;
  epochs: Epochs;
  relays(): RelayState[];
  isClosed(): boolean;
  /** A peer's presence changed in some epoch's room. */
  changed(): void;
}

export class ChannelPresence {
  private state: Omit<Presence, 'author' | 'ts'> = {};
  /** When our presence was last published (0 = never since open). */
  private publishedAt = 0;
  private beaconTimer: NodeJS.Timeout | null = null;
  private readonly frontier = new FrontierWatch(withholdGraceMs());

  constructor(private readonly d: PresenceDeps) {}

  /** Watches a new replica's awareness: peers' presence, and their beacons in the current epoch. */
  watch(ep: number, replica: EpochReplica): void {
    replica.awareness.on('change', () => this.d.changed());
    replica.awareness.on('update', (changes: { added: number[]; updated: number[] }, origin: unknown) => {
      if (ep !== this.d.epochs.current) return;
      this.observeBeacons(replica, [...changes.added, ...changes.updated], origin);
      // Presence is renewed only while peers are there (`heartbeat`): a newcomer gets ours at once.
      if (changes.added.length > 0 && origin instanceof RoomLink) this.scheduleBeacon();
    });
  }

  get published(): boolean {
    return this.publishedAt !== 0;
  }

  set(p: Omit<Presence, 'author' | 'ts'>): void {
    this.state = { ...this.state, ...p };
    this.publish();
  }

  publish(): void {
    const epoch = this.d.epochs.context();
    this.publishedAt = Date.now();
    const heads = this.frontierHeads();
    const blob = sealPresence(
      { author: this.d.me, ts: this.publishedAt, ...this.state, heads },
      this.d.identity,
      epoch,
    );
    this.d.epochs.replica().awareness.setLocalState({ p: blob });
  }

  /** The node's tick: where peers are, drop their stale presence and renew ours in the current epoch. */
  heartbeat(now: number): void {
    const current = this.d.epochs.current;
    for (const [ep, r] of this.d.epochs.replicas) {
      // Alone in a room (the usual idle case) there is nothing to renew or expire.
      if (!r.hasPeers()) continue;
      r.expirePresence(now);
      if (ep === current && now - this.publishedAt >= HEARTBEAT_MS) this.publish();
    }
  }

  /** Highest delivered seq per author, most recently active authors first (the frontier beacon). */
  private frontierHeads(): Record<string, number> {
    const { ingestor } = this.d;
    const heads = [...ingestor.chains.allHeads()].map(([author, h]) => ({
      author,
      seq: h.seq,
      lamport: ingestor.lamportOf(h.id) ?? 0,
    }));
    heads.sort((a, b) => b.lamport - a.lamport || (a.author < b.author ? -1 : 1));
    return Object.fromEntries(heads.slice(0, BEACON_AUTHORS).map((h) => [h.author, h.seq]));
  }

  /** Republishes our beacon soon (after a delivery, or for a newcomer). */
  scheduleBeacon(): void {
    if (this.beaconTimer || this.d.isClosed()) return;
    this.beaconTimer = setTimeout(() => {
      this.beaconTimer = null;
      if (!this.d.isClosed()) this.publish();
    }, BEACON_THROTTLE_MS);
    this.beaconTimer.unref();
  }

  private localSeq = (author: string): number => this.d.ingestor.chains.head(author)?.seq ?? 0;

  /** A peer's presence in a replica's awareness, opened and verified; null for our own client or anything invalid. */
  private presenceOf(r: EpochReplica, client: number, epoch: EpochContext): Presence | null {
    if (client === r.doc.clientID) return null;
    return openPresence((r.awareness.getStates().get(client) as { p?: unknown } | undefined)?.p, epoch);
  }

  private observeBeacons(r: EpochReplica, clients: number[], origin: unknown): void {
    const via = origin instanceof RoomLink ? origin.url : null;
    const epoch = this.d.epochs.context();
    const now = Date.now();
    for (const client of clients) {
      const p = this.presenceOf(r, client, epoch);
      if (p?.heads && p.author !== this.d.me && this.d.membership.canPost(p.author)) {
        this.frontier.observe(p.author, p.heads, via, this.localSeq, this.d.relays(), now);
      }
    }
  }

  /** Withholding findings, one sentence each (empty when every claimed event arrived or relays are unreachable). */
  withholding(): string[] {
    return this.frontier
      .check(this.localSeq, this.d.relays(), Date.now())
      .map((w) => describeWithholding(w, (id) => this.d.membership.nameOf(id)));
  }

  /** Relay updates refused before they reached a replica (any epoch), one line per relay and reason. */
  refusedRelays(): string[] {
    const counts = new Map<string, number>();
    for (const r of this.d.epochs.replicas.values()) {
      for (const { relay, reason, count } of r.refusals()) {
        const line = describeRefusal(relay, reason);
        counts.set(line, (counts.get(line) ?? 0) + count);
      }
    }
    const refusing = this.d
      .relays()
      .filter((r) => r.refused)
      .map((r) => `${r.url} refuses this channel: ${r.refused}`);
    return [...[...counts].map(([line, n]) => (n > 1 ? `${n}× ${line}` : line)), ...refusing];
  }

  /** Peers currently online (valid presence in the current epoch's awareness), by member id. */
  online(): Map<string, Presence> {
    const out = new Map<string, Presence>();
    const replica = this.d.epochs.replica();
    const epoch = this.d.epochs.context();
    for (const client of replica.awareness.getStates().keys()) {
      const p = this.presenceOf(replica, client, epoch);
      if (p) out.set(p.author, p);
    }
    return out;
  }

  close(): void {
    if (this.beaconTimer) clearTimeout(this.beaconTimer);
    this.beaconTimer = null;
  }
}
