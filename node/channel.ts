/**
 * One channel as this node sees it: membership, the ingest pipeline, and one replica per epoch. Posting builds,
 * signs and seals an event and puts it into the current epoch's document; delivery (ours and others') comes back
 * through the replica's observer, so a local post and a remote one take the same path.
 */
import { EventEmitter } from 'node:events';
import { MAX_DEPS, MAX_SEALED_BYTES, nextLamport, sealEvent, signEvent, type EpochContext, type EventBody, type EventType } from '../protocol/event.js';
import { EventTooLargeError } from './errors.js';
import { failIfPlanned } from './fault.js';
import { memberId, newEpochKey, openFromMember, sealToMember, type KeyPair } from '../protocol/keys.js';
import { sealPresence, openPresence, type Presence } from '../protocol/presence.js';
import { Ingestor, type IngestEntry, type IngestEvent } from './ingest.js';
import { openBatch, type OpenedBatch } from './open-batch.js';
import { openOnThread, startOpenThread } from './opener.js';
import { Membership } from './membership.js';
import { EpochReplica, type ReplicaEntry } from './replica.js';
import { describeRefusal } from './relay-guard.js';
import type { ChannelRow, DeliveredRow, LocalStore } from './store.js';
import { fromB64u, fromUtf8, toB64u, toHex, utf8 } from '../protocol/bytes.js';
import { sha256Hex } from '../protocol/hash.js';
import { randomBytes } from '../protocol/keys.js';
import { ChannelBots, type StepPayload } from '../bots/channel-bots.js';
import { seedCommitment } from '../bots/seed.js';
import { ENGINE_ID, DEFAULT_LIMITS, type Limits } from '../bots/sandbox.js';
import { RoomLink } from './room-link.js';
import type { RelayPool } from './relay-connection.js';
import { FrontierWatch, describeWithholding } from './withholding.js';
import { oldEpochGraceMs, withholdGraceMs } from './config.js';
import * as Y from 'yjs';
import type { DormantEpoch } from './store.js';

/** Authors listed in a frontier beacon (keeps the sealed presence well under its size limit). */
const BEACON_AUTHORS = 128;
/** A delivery republishes the beacon at most this often; the heartbeat covers quiet times. */
const BEACON_THROTTLE_MS = 1000;
/** With peers online, our presence is renewed this often (the relay and peers drop it after 30 s). */
const HEARTBEAT_MS = 10_000;
/** How long a removal waits for a relay before its rotation is reconsidered (the next removal or start retries). */
const ROTATE_SYNC_WAIT_MS = 60_000;

export interface DeliveredEvent {
  dnum: number | null;
  id: string;
  body: EventBody;
}

export class Channel extends EventEmitter {
  readonly membership: Membership;
  readonly ingestor: Ingestor;
  readonly bots: ChannelBots;
  private readonly replicas = new Map<number, EpochReplica>();
  private readonly keys = new Map<number, Uint8Array>();
  readonly me: string;
  private presence: Omit<Presence, 'author' | 'ts'> = {};
  /** When our presence was last published (0 = never since open). */
  private publishedAt = 0;
  /** Older epochs let go (docs/DESIGN-NOTES.md "Old epochs"), and when each older epoch first synced. */
  private readonly letGo = new Set<number>();
  private readonly syncedAt = new Map<number, number>();
  private beaconTimer: NodeJS.Timeout | null = null;
  private readonly inbox = new Map<number, ReplicaEntry[]>();
  private flushScheduled = false;
  /** Parts out on the open thread and not admitted yet, and who waits for them. */
  private readonly onThread = new Set<{ entries: IngestEntry[]; epoch: EpochContext }>();
  private openingDone: { promise: Promise<void>; resolve: () => void } | null = null;
  private closedLocally = false;
  private readonly frontier = new FrontierWatch(withholdGraceMs());
  /** An older epoch stays linked this long after it synced, to send what we wrote there and get stragglers. */
  private readonly oldEpochGrace = oldEpochGraceMs();
  /** When something last happened here (a delivery, a post, a tool naming the channel, a peer's presence). */
  private lastActive = Date.now();

  constructor(
    private readonly store: LocalStore,
    public row: ChannelRow,
    private readonly identity: KeyPair,
    private readonly writer: string,
    private readonly pool: RelayPool,
  ) {
    super();
    this.setMaxListeners(0);
    this.me = memberId(identity.publicKey);
    this.membership = new Membership(row.ch);
    this.ingestor = new Ingestor(
      (id, body) => this.membership.refusal(id, body),
      (ev) => this.delivered(ev),
      (ev, reason) => this.store.addRefused(this.ch, { id: ev.id, body: ev.bodyText, sig: ev.signature, reason }),
      (ev) => this.earlyKeys(ev),
    );
    this.bots = new ChannelBots(
      row.ch,
      this.membership,
      () => this.membership.name || this.row.name,
      {
        me: this.me,
        seedFor: (slot, attachId) => this.store.secret(this.ch, `bot-seed:${slot}:${attachId}`) ?? this.store.secret(this.ch, `bot-seed:${slot}`),
        postStep: (payload: StepPayload, deps: string[]) => this.post('bot.step', payload as unknown as Record<string, unknown>, this.epoch, deps),
        postReveal: (slot, seed) => this.post('bot.reveal', { bot: slot, seed }),
        openSeed: (sealed) => {
          const raw = fromB64u(sealed);
          const seed = raw && openFromMember(raw, this.identity);
          return seed ? fromUtf8(seed) : undefined;
        },
      },
      (stepId, status, claim) => {
        this.store.setMark(this.ch, stepId, status);
        if (claim) this.emit('mismatch', claim);
      },
    );
  }

  /** Owner: attach a bot. The runner seed stays in the local store; only its commitment (or, for a bot without
   * hidden information, the seed itself) goes into the channel. */
  attachBot(slot: string, source: string, params: Record<string, unknown>, secret: boolean, limits: Limits = DEFAULT_LIMITS): string {
    const seed = toHex(randomBytes(32));
    this.store.setSecret(this.ch, `bot-seed:${slot}`, seed);
    const codeHash = sha256Hex(source);
    this.post('bot.attach', {
      bot: slot, source, code_hash: codeHash, params, runner: this.me, seed_commitment: seedCommitment(seed),
      members: this.membership.members().map((m) => ({ slot: m.slot, id: m.id, name: m.name })),
      manifest: { engine: ENGINE_ID, limits, secret, hooks: ['init', 'onJoin', 'onMessage'] },
      ...(secret ? {} : { seed }),
    });
    return codeHash;
  }

  /**
   * Hands a bot's runner role to `to` (a member id) from the next step. A secret seed is sealed to the new runner,
   * so only it (and, after the reveal, everyone) can replay the steps.
   */
  handOverBot(slot: string, to: string, toPublicKey: Uint8Array): number {
    const bot = this.bots.info(slot)?.bot;
    if (!bot) throw new Error(`no bot in ${slot}`);
    const fromStep = bot.steps.length + 1;
    const payload: Record<string, unknown> = { bot: slot, runner: to, from_step: fromStep };
    if (bot.secret && !bot.revealed && bot.seed) payload.seed_sealed = toB64u(sealToMember(utf8(bot.seed), toPublicKey));
    this.post('bot.runner', payload);
    return fromStep;
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
    startOpenThread();
    for (const { ep, key } of this.store.epochKeys(this.ch)) this.keys.set(ep, key);
    const rows = this.store.deliveredAll(this.ch);
    this.ingestor.restore(
      rows.map((r) => ({ id: r.id, body: parseStoredBody(r) })),
      (id, body) => {
        this.membership.apply(id, body);
        this.bots.deliver({ id, body }, true);
      },
    );
    this.bots.resume();
    for (const ep of this.keys.keys()) this.replica(ep).load();
    this.connect();
    this.admitWaiting();
  }

  /** Links each epoch's room on the channel's relays, except older epochs already let go. */
  connect(): void {
    const relays = this.row.relays;
    for (const [ep, r] of this.replicas) if (!this.letGo.has(ep)) r.connect(relays);
    if (this.publishedAt === 0) this.publishPresence();
  }

  /**
   * The node's periodic work for this channel (one timer for all channels, node/service.ts): renew our presence
   * while peers are there to see it, drop peers' stale presence, and let go of older epochs no longer needed.
   */
  tick(now = Date.now()): void {
    if (this.closedLocally) return;
    const epoch = this.epoch;
    for (const [ep, r] of this.replicas) {
      // Alone in a room (the usual idle case) there is nothing to renew or expire.
      if (r.hasPeers()) {
        r.expirePresence(now);
        if (ep === epoch && now - this.publishedAt >= HEARTBEAT_MS) this.publishPresence();
      }
      if (ep === epoch || this.letGo.has(ep)) continue;
      if (!this.syncedAt.has(ep) && r.isSynced()) this.syncedAt.set(ep, now);
      const since = this.syncedAt.get(ep);
      if (since !== undefined && now - since >= this.oldEpochGrace && !this.needsEpoch(ep)) {
        this.letGo.add(ep);
        r.disconnect();
      }
    }
  }

  /**
   * An older epoch this node must stay in: every invite carries epoch 0's key, so a newcomer's claim lands there
   * whatever the current epoch. While any slot is open, every member stays in epoch 0: the owner's or an admin's
   * node to admit the claim, and everyone's to deliver the newcomer's events, whose chain starts at that claim.
   */
  private needsEpoch(ep: number): boolean {
    return ep === 0 && this.membership.openSlots().length > 0;
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
      const replica = new EpochReplica(
        this.store, this.ch, ep, key, this.writer, this.pool, (entries) => this.onEntries(ep, entries), () => this.scheduleFlush(),
        (relay, reason) => this.ingestor.problem(describeRefusal(relay, reason)),
        (relay, limit) => this.ingestor.problem(`${relay} refused an update of ours for its size: entries over ${limit} bytes are no longer sent to it`),
      );
      this.replicas.set(ep, replica);
      replica.awareness.on('change', () => {
        this.touch();
        this.emit('presence');
      });
      replica.awareness.on('update', (changes: { added: number[]; updated: number[] }, origin: unknown) => {
        if (ep !== this.epoch) return;
        this.observeBeacons(replica, [...changes.added, ...changes.updated], origin);
        // Presence is renewed only while peers are there (tick): a newcomer gets ours at once.
        if (changes.added.length > 0 && origin instanceof RoomLink) this.scheduleBeacon();
      });
      r = replica;
    }
    return r;
  }

  /** New log entries wait here until `flush`: entries from relays are batched, local posts flush at once. */
  private onEntries(ep: number, entries: ReplicaEntry[]): void {
    const queue = this.inbox.get(ep);
    if (queue) queue.push(...entries);
    else this.inbox.set(ep, [...entries]);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.later(() => this.flush());
  }

  /**
   * Stores pending document updates and ingests pending entries in one transaction. Relay messages that arrived
   * together land in one transaction (a long join commits a few times instead of once per message, which matters:
   * every commit rewrites the index pages its random event ids touched). A large batch is opened on the open thread
   * and admitted in a transaction of its own when it comes back (`admitLater`); its document update is already
   * stored, so a crash in between loses nothing: the next start ingests the stored document again.
   */
  flush(): void {
    this.flushScheduled = false;
    if (this.closedLocally) return;
    const delivered = this.store.transaction(() => {
      for (const r of this.replicas.values()) r.flushUpdates();
      let n = 0;
      for (const [ep, entries] of this.inbox) {
        this.inbox.delete(ep);
        const fresh = this.ingestor.claim(entries);
        if (fresh.length === 0) continue;
        const epoch = this.epochContext(ep);
        const parts = openOnThread(fresh, epoch);
        if (parts) for (const p of parts) this.admitLater(p.opened, p.entries, epoch);
        else n += this.ingestor.admit(openBatch(fresh, epoch), fresh).length;
      }
      return n;
    });
    this.afterDelivery(delivered);
  }

  private admitLater(opened: Promise<OpenedBatch>, entries: IngestEntry[], epoch: EpochContext): void {
    const part = { entries, epoch };
    this.onThread.add(part);
    void opened.then((batch) => {
      // Not if `settleOnThread` already admitted it inline.
      if (!this.onThread.delete(part)) return;
      if (!this.closedLocally) this.guarded(() => this.afterDelivery(this.store.transaction(() => this.ingestor.admit(batch, entries).length)));
      if (this.onThread.size === 0) this.releaseOpening();
    });
  }

  /**
   * Opens and admits, inline and now, every part still out on the open thread (their answers, when they come, are
   * ignored). For `post`, which must continue this member's chain from an event it has delivered; see there.
   */
  private settleOnThread(): number {
    let n = 0;
    for (const part of this.onThread) n += this.ingestor.admit(openBatch(part.entries, part.epoch), part.entries).length;
    this.onThread.clear();
    this.releaseOpening();
    return n;
  }

  /** Runs deferred work on the next turn; see `guarded`. */
  private later(job: () => void): void {
    setImmediate(() => this.guarded(job));
  }

  /**
   * Runs work that writes to the store outside any tool call. If the store fails (a full disk), what was delivered
   * in memory may not be stored: the channel reports a 'fault', and its node reloads it from the store.
   */
  private guarded(job: () => void): void {
    if (this.closedLocally) return;
    try {
      job();
    } catch (err) {
      this.emit('fault', err);
    }
  }

  private afterDelivery(n: number): void {
    if (n === 0) return;
    this.touch();
    this.emit('delivered', n);
    this.scheduleBeacon();
  }

  private releaseOpening(): void {
    this.openingDone?.resolve();
    this.openingDone = null;
  }

  /** Resolves once every entry received so far has been opened and admitted (delivered, waiting, or refused). */
  ingestIdle(): Promise<void> {
    if (this.inbox.size > 0) this.flush();
    if (this.onThread.size === 0 || this.closedLocally) return Promise.resolve();
    if (!this.openingDone) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.openingDone = { promise, resolve };
    }
    return this.openingDone.promise;
  }

  private delivered(ev: IngestEvent): void {
    const b = ev.body;
    this.membership.apply(ev.id, b);
    this.store.deliver({
      ch: this.ch, ep: b.ep, id: ev.id, type: b.type, author: b.author, seq: b.seq, lamport: b.lamport, ts: b.ts,
      body: ev.bodyText, sig: ev.signature,
    });
    if (b.type === 'channel.close' && !this.row.closed) this.saveRow({ closed: true });
    this.react(ev);
    this.bots.deliver({ id: ev.id, body: b });
    if (b.type === 'channel.update' && typeof b.payload.name === 'string') this.saveRow({ name: b.payload.name });
    this.emit('event', ev);
  }

  /**
   * Later epochs' keys handed to us by the owner or an admin (`epoch.key`), taken as soon as the event is opened and
   * its signature checked, before its delivery: a member admitted from an old epoch cannot deliver it in causal order
   * (its author's chain runs through the later epochs it has no key for yet). The authority check is the one at hand;
   * a key is only a way into that epoch's room, and delivery still judges the event itself.
   */
  private earlyKeys(ev: IngestEvent): void {
    const b = ev.body;
    if (b.type !== 'epoch.key' || this.keys.size === 0 || !this.membership.manages(b.author)) return;
    const mine = (b.payload as { keys?: Record<string, unknown> }).keys?.[this.me];
    if (mine && typeof mine === 'object') this.later(() => this.acceptKeys(mine as Record<string, unknown>));
  }

  /**
   * What this node does about a delivered event beyond storing it (docs/membership.md): pick up epoch keys sealed to
   * us by an effective rotation or key hand-out; as owner or admin, admit the first valid claim of an open slot,
   * rotate after a removal, and hand later epoch keys to a member admitted from an old epoch. Deferred with
   * setImmediate: this runs inside causal delivery, which must not be re-entered.
   */
  private react(ev: IngestEvent): void {
    const b = ev.body;
    const m = this.membership;
    const p = b.payload as Record<string, unknown>;
    if ((b.type === 'epoch.rotate' || b.type === 'epoch.key') && m.isEffective(ev.id)) {
      const keys = (p.keys ?? {}) as Record<string, unknown>;
      const mine = keys[this.me];
      if (typeof mine === 'string' || (mine && typeof mine === 'object')) this.later(() => this.acceptKeys(b.type === 'epoch.rotate' ? { [String(p.next_ep)]: mine } : (mine as Record<string, unknown>)));
    }
    if (this.closedLocally || !m.manages(this.me)) return;
    if (b.type === 'member.join' && m.claim(ev.id)) this.later(() => this.admit(ev.id));
    const removal = (b.type === 'member.kick' && b.author === this.me) || (b.type === 'member.leave' && m.owner === this.me);
    if (removal && b.ep === this.epoch && m.isEffective(ev.id)) void this.ingestIdle().then(() => this.later(() => this.rotateIfNeeded()));
  }

  /**
   * Rotates after a removal unless the history already holds the rotation: a node catching up on its own old kick
   * (a profile rebuilt from an identity backup) must not start a second, different key for the same epoch. Only once
   * a relay has served the history and ingest has settled, so the rotation, if there is one, has been delivered.
   */
  private rotateIfNeeded(): void {
    if (!this.membership.needsRotation(this.epoch)) return;
    if (this.isSynced()) this.rotate();
    else {
      void this.waitSynced(ROTATE_SYNC_WAIT_MS).then(async (ok) => {
        if (!ok) return;
        await this.ingestIdle();
        this.later(() => this.rotateIfNeeded());
      });
    }
  }

  /**
   * Owner or admin: admits a claim if its slot is still open, so the first valid claim this node sees settles the
   * slot. The claim is pinned among the admission's deps: no node can count the admission without the claim.
   */
  private admit(claimId: string): void {
    const m = this.membership;
    const c = m.claim(claimId);
    if (this.closedLocally || !c || !m.manages(this.me) || !m.pendingClaims().some((x) => x.id === claimId)) return;
    // An expired channel takes no new members (join_channel tells the claimant so).
    if (m.expiresAt !== null && Date.now() > m.expiresAt) return;
    const deps = [...new Set([claimId, ...this.ingestor.currentHeads(MAX_DEPS - 1)])].sort();
    this.post('member.admit', { slot: c.slot, member: c.author, claim: claimId }, this.epoch, deps);
    if (c.ep < this.epoch && m.holder(c.slot)?.author === c.author) this.shareKeys(c.author, c.ep);
  }

  /** Owner or admin: admits the claims that arrived while this node was not running. */
  private admitWaiting(): void {
    if (!this.membership.manages(this.me)) return;
    for (const c of this.membership.pendingClaims()) this.later(() => this.admit(c.id));
  }

  private acceptKeys(sealedByEpoch: Record<string, unknown>): void {
    if (this.closedLocally) return;
    let added = false;
    for (const [epText, sealed] of Object.entries(sealedByEpoch)) {
      const ep = Number(epText);
      if (!Number.isInteger(ep) || ep < 0 || this.keys.has(ep) || typeof sealed !== 'string') continue;
      const raw = fromB64u(sealed);
      const key = raw && openFromMember(raw, this.identity);
      if (!key || key.length !== 32) continue;
      this.addEpochKey(ep, key);
      this.replica(ep).load();
      added = true;
    }
    if (added) {
      this.saveRow({ epoch: this.epoch });
      this.connect();
      this.publishPresence();
      this.emit('epoch', this.epoch);
    }
  }

  /** Owner or admin: start a new epoch whose key only the remaining members receive. */
  rotate(): number {
    const old = this.epoch;
    const next = old + 1;
    const key = newEpochKey();
    const keys: Record<string, string> = {};
    for (const m of this.membership.members()) keys[m.id] = toB64u(sealToMember(key, fromB64u(m.id, 32)!));
    keys[this.me] = toB64u(sealToMember(key, this.identity.publicKey));
    const rotateId = this.post('epoch.rotate', { next_ep: next, keys, members: this.membership.members().map((m) => m.slot) }, old);
    this.addEpochKey(next, key);
    this.replica(next).load();
    this.saveRow({ epoch: next });
    this.connect();
    // The new epoch opens by linking the old one: its rotation event (and through deps, the old heads) and where
    // each bot stood, so the bots carry on across the rotation with a checkpoint members can compare.
    this.post('epoch.rotate', { from_ep: old, rotate: rotateId, bots: this.bots.checkpoints() }, next);
    this.publishPresence();
    this.emit('epoch', next);
    return next;
  }

  /** Owner or admin: seal every later epoch key to a member admitted from an old epoch. */
  private shareKeys(member: string, joinedEp: number): void {
    const pk = fromB64u(member, 32);
    if (!pk) return;
    const sealed: Record<string, string> = {};
    for (const [ep, key] of this.keys) if (ep > joinedEp) sealed[String(ep)] = toB64u(sealToMember(key, pk));
    this.post('epoch.key', { keys: { [member]: sealed } }, joinedEp);
  }

  saveRow(patch: Partial<ChannelRow>): void {
    this.row = { ...this.row, ...patch };
    this.store.saveChannel(this.row);
  }

  /**
   * Builds, signs, seals and stores one event of ours in the current epoch; returns its id. Write-ahead: the event,
   * our new chain head and its document update commit together before any byte leaves for a relay (`replica.put`),
   * so a failed commit sends nothing and the next post cannot reuse its `seq`. An event over the size relays accept
   * is refused before anything is signed into our chain.
   */
  post(type: EventType, payload: Record<string, unknown>, ep = this.epoch, pinnedDeps?: string[]): string {
    this.touch();
    const replica = this.replica(ep);
    return this.store.transaction(() => {
      replica.pollStore();
      // Deps and lamport come from what is delivered: deliver whatever is pending first.
      this.flush();
      const head = this.ownHead();
      // Our own last event, if another process of this profile posted it, may still be out on the open thread: its
      // lamport clock is needed now, and this post is delivered only after it.
      if (head && this.ingestor.lamportOf(head.id) === undefined && this.onThread.size > 0) this.afterDelivery(this.settleOnThread());
      const deps = (pinnedDeps ?? this.ingestor.currentHeads(MAX_DEPS)).filter((d) => d !== head?.id).sort();
      const body: EventBody = {
        v: 1, ch: this.ch, ep, type, author: this.me, seq: (head?.seq ?? 0) + 1, prev: head?.id ?? null, deps,
        lamport: nextLamport(deps, head?.id ?? null, this.ingestor.lamportOf), ts: Date.now(), payload,
      };
      const { id, sealed } = sealEvent(signEvent(body, this.identity.secretKey), this.epochContext(ep));
      if (sealed.length > MAX_SEALED_BYTES) throw new EventTooLargeError(type, sealed.length);
      this.store.setMyHead(this.ch, body.seq, id);
      replica.put(id, sealed);
      // A local post is delivered before post returns, as callers (and the next post's lamport) expect.
      this.onEntries(ep, [{ key: id, value: sealed, relay: null }]);
      this.flush();
      failIfPlanned();
      return id;
    });
  }

  /**
   * Our chain head in this channel: the one this profile stored, or, if the channel's history holds a later event
   * of ours (an identity restored into a new profile), that one, so a restored identity never reuses a `seq`.
   */
  private ownHead(): { id: string; seq: number } | undefined {
    const stored = this.store.myHead(this.ch);
    const seen = this.ingestor.chains.head(this.me);
    return seen && (!stored || seen.seq > stored.seq) ? seen : stored;
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
    this.publishedAt = Date.now();
    const blob = sealPresence({ author: this.me, ts: this.publishedAt, ...this.presence, heads: this.frontierHeads() }, this.identity, epoch);
    this.replica().awareness.setLocalState({ p: blob });
  }

  /** Highest delivered seq per author, most recently active authors first (the frontier beacon). */
  private frontierHeads(): Record<string, number> {
    const heads = [...this.ingestor.chains.allHeads()].map(([author, h]) => ({ author, seq: h.seq, lamport: this.ingestor.lamportOf(h.id) ?? 0 }));
    heads.sort((a, b) => b.lamport - a.lamport || (a.author < b.author ? -1 : 1));
    return Object.fromEntries(heads.slice(0, BEACON_AUTHORS).map((h) => [h.author, h.seq]));
  }

  private scheduleBeacon(): void {
    if (this.beaconTimer || this.closedLocally) return;
    this.beaconTimer = setTimeout(() => {
      this.beaconTimer = null;
      if (!this.closedLocally) this.publishPresence();
    }, BEACON_THROTTLE_MS);
    this.beaconTimer.unref();
  }

  private localSeq = (author: string): number => this.ingestor.chains.head(author)?.seq ?? 0;

  /** A peer's presence in a replica's awareness, opened and verified; null for our own client or anything invalid. */
  private presenceOf(r: EpochReplica, client: number, epoch: EpochContext): Presence | null {
    if (client === r.doc.clientID) return null;
    return openPresence((r.awareness.getStates().get(client) as { p?: unknown } | undefined)?.p, epoch);
  }

  private observeBeacons(r: EpochReplica, clients: number[], origin: unknown): void {
    const via = origin instanceof RoomLink ? origin.url : null;
    const epoch = this.epochContext();
    const now = Date.now();
    for (const client of clients) {
      const p = this.presenceOf(r, client, epoch);
      if (p?.heads && p.author !== this.me && this.membership.canPost(p.author)) {
        this.frontier.observe(p.author, p.heads, via, this.localSeq, this.relays(), now);
      }
    }
  }

  /** Withholding findings, one sentence each (empty when every claimed event arrived or relays are unreachable). */
  withholding(): string[] {
    return this.frontier.check(this.localSeq, this.relays(), Date.now()).map((w) => describeWithholding(w, (id) => this.membership.nameOf(id)));
  }

  /** Relay updates refused before they reached a replica (any epoch), one line per relay and reason. */
  refusedRelays(): string[] {
    const counts = new Map<string, number>();
    for (const r of this.replicas.values()) {
      for (const { relay, reason, count } of r.refusals()) {
        const line = describeRefusal(relay, reason);
        counts.set(line, (counts.get(line) ?? 0) + count);
      }
    }
    const refusing = this.relays().filter((r) => r.refused).map((r) => `${r.url} refuses this channel: ${r.refused}`);
    return [...[...counts].map(([line, n]) => (n > 1 ? `${n}× ${line}` : line)), ...refusing];
  }

  /** Peers currently online (valid presence in the current epoch's awareness), by member id. */
  online(): Map<string, Presence> {
    const out = new Map<string, Presence>();
    const replica = this.replica();
    const epoch = this.epochContext();
    for (const client of replica.awareness.getStates().keys()) {
      const p = this.presenceOf(replica, client, epoch);
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

  /** Something happened here: the channel stays loaded at least `idleMs` longer (see `dormantState`). */
  touch(now = Date.now()): void {
    this.lastActive = now;
  }

  /**
   * The epochs to keep linked and their state vectors, if this channel may go dormant now (node/dormant.ts): idle for
   * `idleMs` (unless the node is stopping), every linked epoch synced and needed, and nothing this node must still
   * do or watch here — entries to ingest, events waiting for dependencies, claims to admit, a rotation to make, a
   * bot to run or verify, a peer online, a withholding finding. Null otherwise.
   */
  dormantState(now: number, idleMs: number, stopping = false): DormantEpoch[] | null {
    if (this.closedLocally || (!stopping && now - this.lastActive < idleMs)) return null;
    if (this.inbox.size > 0 || this.flushScheduled || this.onThread.size > 0 || this.ingestor.pendingCount() > 0) return null;
    const m = this.membership;
    if (m.botSlots().length > 0 || m.needsRotation(this.epoch)) return null;
    if (m.manages(this.me) && m.pendingClaims().length > 0) return null;
    const epochs: DormantEpoch[] = [];
    for (const [ep, r] of this.replicas) {
      if (this.letGo.has(ep)) continue;
      if (!r.isSynced() || (!stopping && r.hasPeers()) || (ep !== this.epoch && !this.needsEpoch(ep))) return null;
      epochs.push({ ep, sv: Y.encodeStateVector(r.doc) });
    }
    if (!epochs.some((e) => e.ep === this.epoch) || this.withholding().length > 0) return null;
    return epochs;
  }

  maintenance(): void {
    for (const r of this.replicas.values()) r.maybeCompact();
  }

  close(): void {
    if (!this.closedLocally && (this.inbox.size > 0 || this.flushScheduled)) {
      try {
        this.flush();
      } catch {
        // A failing store: what was not stored comes again from the relays at the next open.
      }
    }
    this.closedLocally = true;
    this.releaseOpening();
    if (this.beaconTimer) clearTimeout(this.beaconTimer);
    this.beaconTimer = null;
    for (const r of this.replicas.values()) r.close();
    this.replicas.clear();
    this.bots.close();
    this.removeAllListeners();
  }
}

/** A body from this node's own store: it was checked to be canonical when it was delivered, so plain JSON.parse. */
export function parseStoredBody(r: Pick<DeliveredRow, 'body'>): EventBody {
  return JSON.parse(r.body) as EventBody;
}
