/**
 * The participant node: identity, local store and channels, and the operations behind each MCP tool. Every
 * operation validates its preconditions and throws ToolError with one sentence; the MCP layer turns that into
 * `isError: true`.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildFraudProof, buildTranscript, type FraudProof } from './transcript.js';
import { randomUUID } from 'node:crypto';
import { ready } from '../protocol/sodium.js';
import type { EventType } from '../protocol/event.js';
import { memberId, newChannelId, newEpochKey, newIdentity, randomBytes, type KeyPair } from '../protocol/keys.js';
import { decodeInvite, encodeInvite, InviteError } from '../protocol/invite.js';
import { fromB64u, toB64u } from '../protocol/bytes.js';
import { Channel, parseStoredBody } from './channel.js';
import { DormantChannel } from './dormant.js';
import { RelayPool } from './relay-connection.js';
import { LocalStore, type ChannelRow, type DormantEpoch } from './store.js';
import { loadOrCreateIdentity } from './identity.js';
import { dormantAfterMs, joinAdmitMs, parleyHome, parseRelayList, storePollMs } from './config.js';
import { ToolError } from './errors.js';
import { renderEvent, type Message, type Verification } from './messages.js';
import { signSlotClaim, slotRole, type Role } from './payloads.js';
import { redactJson, redactSecrets } from './redact.js';
import { checkBodySize, limitsFromEnv, RateLimiter } from './limits.js';

export interface NodeOptions {
  home?: string;
  relays?: string[];
  env?: NodeJS.ProcessEnv;
  /** How long join_channel waits for a relay before giving up. */
  joinTimeoutMs?: number;
  /** How long join_channel waits for the owner's (or an admin's) node to admit its claim before returning pending. */
  joinAdmitMs?: number;
}

/** Folding each epoch's stored document updates into one row (node/replica.ts maybeCompact). */
const MAINTENANCE_MS = 60_000;
/** Each channel's periodic work (presence, older epochs: Channel.tick) runs this often. */
const CHANNEL_TICK_MS = 2000;
/** The background opener yields to tool calls after this much work. */
const OPEN_SLICE_MS = 20;
const MAX_WAIT_SECONDS = 50;
/** After a relay answered, how long join_channel also waits for a long history (under the usual 60 s tool timeout). */
const JOIN_HISTORY_WAIT_MS = 45_000;
/** How long a post or a leave in a channel just opened waits for it to sync before going on without. */
const OPEN_SYNC_WAIT_MS = 3000;
/** How long update_channel waits for the rotation after a kick before it reports the epoch it has. */
const ROTATION_WAIT_MS = 5_000;

export class ParleyNode extends EventEmitter {
  /**
   * Open channels. Active ones not opened yet are in `unopened` (see `openInBackground`), and those with nothing to
   * do are `dormant`: linked to their relay rooms, not loaded, opened when something arrives or a tool names them.
   */
  readonly channels = new Map<string, Channel>();
  readonly dormant = new Map<string, DormantChannel>();
  private readonly dormantAfter: number;
  readonly me: string;
  /** The node's connections, one per relay, shared by every channel and epoch. */
  readonly pool = new RelayPool();
  private readonly unopened = new Map<string, ChannelRow>();
  private readonly writer = randomUUID();
  /** The node's one timer: store poll, channel ticks and maintenance (idle cost does not grow with channels). */
  private readonly ticker: NodeJS.Timeout;
  private lastDocRow: number;
  private lastChannelTick = Date.now();
  private lastMaintenance = Date.now();
  private readonly allOpen: Promise<void>;
  /** The background opener is scheduled. */
  private opening = false;
  private openedAll!: () => void;
  private readonly rate: RateLimiter;
  private readonly bodyLimit: number;
  private lastDnum: number;
  private closed = false;

  private constructor(
    readonly home: string,
    readonly store: LocalStore,
    readonly identity: KeyPair,
    readonly defaultRelays: string[],
    private readonly opts: NodeOptions,
  ) {
    super();
    this.setMaxListeners(0);
    this.me = memberId(identity.publicKey);
    const limits = limitsFromEnv(opts.env ?? process.env);
    this.rate = new RateLimiter({ limit: limits.ratePerMin, windowMs: 60_000 });
    this.bodyLimit = limits.bodyLimitBytes;
    this.lastDnum = store.maxDnum();
    this.lastDocRow = store.maxDocRow();
    this.dormantAfter = dormantAfterMs(opts.env ?? process.env);
    const dormant = store.dormantChannels();
    for (const row of store.channels()) {
      if (row.status !== 'active') continue;
      const epochs = dormant.get(row.ch);
      if (epochs) this.sleep(row, epochs);
      else this.unopened.set(row.ch, row);
    }
    this.allOpen = new Promise((resolve) => (this.openedAll = resolve));
    // The MCP server answers at once; channels open in the background, or on first use (`channel`).
    this.scheduleOpening();
    this.ticker = setInterval(() => this.tick(), storePollMs());
    this.ticker.unref();
  }

  /** Resolves once every channel active at start-up is open (the bench and tests wait for it; tools need not). */
  opened(): Promise<void> {
    return this.allOpen;
  }

  private scheduleOpening(): void {
    if (this.opening) return;
    this.opening = true;
    setImmediate(() => this.openInBackground());
  }

  private openInBackground(): void {
    this.opening = false;
    if (this.closed) return this.openedAll();
    const stop = performance.now() + OPEN_SLICE_MS;
    for (const row of this.unopened.values()) {
      this.openChannel(row);
      if (performance.now() > stop) return this.scheduleOpening();
    }
    this.openedAll();
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

  /** Links a channel dormant (node/dormant.ts) on the epochs it recorded; it opens in full when it wakes. */
  private sleep(row: ChannelRow, epochs: DormantEpoch[]): void {
    const keys = new Map(this.store.epochKeys(row.ch).map((k) => [k.ep, k.key]));
    if (!epochs.every((e) => keys.has(e.ep))) return void this.unopened.set(row.ch, row);
    const linked = epochs.map((e) => ({ ...e, key: keys.get(e.ep)! }));
    this.dormant.set(row.ch, new DormantChannel(row, linked, this.pool, (ch) => this.wake(ch)));
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
      this.channels.delete(c.ch);
      c.close();
      this.sleep(c.row, epochs);
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

  static async open(opts: NodeOptions = {}): Promise<ParleyNode> {
    await ready();
    const env = opts.env ?? process.env;
    const home = opts.home ?? parleyHome(env);
    const identity = loadOrCreateIdentity(home);
    const relays = opts.relays ?? parseRelayList(env.PARLEY_RELAY);
    return new ParleyNode(home, new LocalStore(home), identity, relays, opts);
  }

  private openChannel(row: ChannelRow): Channel {
    this.unopened.delete(row.ch);
    const channel = new Channel(this.store, row, this.identity, this.writer, this.pool);
    this.channels.set(row.ch, channel);
    this.watch(channel);
    channel.open();
    return channel;
  }

  private watch(channel: Channel): void {
    channel.on('delivered', () => this.notify(channel.ch));
    channel.on('fault', (err) => this.recover(channel, err));
    // The proof is written once the bots have handled everything delivered so far (the claimed step among it).
    channel.on('mismatch', (claim) => void channel.bots.idle().then(() => this.writeFraudProof(channel, claim)).catch((err) => console.error(`parley: could not write a fraud proof: ${String(err)}`)));
  }

  /**
   * The store failed under a channel (a full disk): its in-memory state may be ahead of what was stored, so it is
   * closed and opened again from the store. Nothing of ours was sent that is not stored (posts are write-ahead), and
   * what came from relays and was not stored comes again.
   */
  private recover(channel: Channel, err: unknown): void {
    if (this.closed || this.channels.get(channel.ch) !== channel) return;
    console.error(`parley: the local store failed in channel "${channel.row.name}" (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); reloading the channel from the store`);
    this.channels.delete(channel.ch);
    channel.close();
    const row = this.store.channels().find((r) => r.ch === channel.ch);
    if (row?.status === 'active') this.openChannel(row);
  }

  /** Posts for a tool call; a failing store reloads the channel and becomes one sentence for the agent. */
  private postAs(channel: Channel, type: EventType, payload: Record<string, unknown>): string {
    try {
      return channel.post(type, payload);
    } catch (err) {
      if (err instanceof ToolError) throw err;
      this.recover(channel, err);
      throw new ToolError(`Could not store the ${type === 'message' ? 'message' : 'change'} in the local store (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); nothing was sent. Try again once the problem (a full disk?) is fixed.`);
    }
  }

  /** A self-contained proof that a runner posted a step that does not replay; `parley verify` checks it offline. */
  private writeFraudProof(channel: Channel, claim: FraudProof['claim']): void {
    if (this.closed) return;
    const dir = join(this.home, 'proofs');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, `${channel.ch}-${claim.bot.replace(/[^A-Za-z0-9_.-]/g, '_')}-${claim.n}.json`);
    const proof = buildFraudProof(claim, buildTranscript(channel.ch, channel.row.name, this.store.deliveredAll(channel.ch)));
    writeFileSync(file, JSON.stringify(proof) + '\n', { mode: 0o600 });
    console.error(`parley: bot ${claim.bot} step ${claim.n} does not replay (${claim.reason}); fraud proof written to ${file}`);
  }

  /**
   * Other processes on this profile write to the same store: pick up their document updates and deliveries. Idle,
   * this is two index lookups, whatever the number of channels.
   */
  private pollStore(): void {
    const maxRow = this.store.maxDocRow();
    if (maxRow !== this.lastDocRow) {
      // A dormant channel another process wrote to wakes: what was written may need sending.
      for (const ch of this.store.docsWrittenSince(this.lastDocRow, this.writer)) (this.channels.get(ch) ?? (this.dormant.has(ch) ? this.openNow(ch) : undefined))?.pollStore();
      this.lastDocRow = maxRow;
    }
    const max = this.store.maxDnum();
    if (max !== this.lastDnum) {
      this.lastDnum = max;
      this.emit('delivered', null);
    }
  }

  private notify(ch: string): void {
    this.lastDnum = this.store.maxDnum();
    this.emit('delivered', ch);
  }

  /** Every active channel's stored row, open, dormant or not opened yet (cheap: nothing is loaded). */
  channelRows(): ChannelRow[] {
    return [...[...this.channels.values()].map((c) => c.row), ...[...this.dormant.values()].map((d) => d.row), ...this.unopened.values()];
  }

  /** Finds a channel by id or by its exact name. */
  channel(ref: string): Channel {
    const c = this.findChannel(ref);
    c.touch();
    return c;
  }

  private findChannel(ref: string): Channel {
    const byId = this.channels.get(ref) ?? this.openNow(ref);
    if (byId) return byId;
    const named = this.channelRows().filter((row) => row.name === ref);
    if (named.length === 1) return this.channels.get(named[0].ch) ?? this.openNow(named[0].ch)!;
    if (named.length > 1) throw new ToolError(`Several channels are named "${ref}"; pass the channel id instead.`);
    throw new ToolError(`Unknown channel "${ref}"; call list_channels to see the channels you are in.`);
  }

  createChannel(args: { name: string; slots?: string[]; relays?: string[]; expires_in_hours?: number; display_name?: string }) {
    const slots = args.slots ?? ['invite:guest'];
    if (new Set(slots).size !== slots.length) throw new ToolError('Each slot may appear only once.');
    const relays = args.relays && args.relays.length > 0 ? [...new Set(args.relays.map((r) => r.replace(/\/+$/, '')))] : this.defaultRelays;
    if (relays.length === 0) throw new ToolError('No relay configured: set PARLEY_RELAY for the node or pass relays to create_channel.');
    const { ch, salt } = newChannelId(this.me);
    const key = newEpochKey();
    const expiresAt = args.expires_in_hours ? Date.now() + Math.round(args.expires_in_hours * 3_600_000) : null;
    const slotSeeds = new Map<string, Uint8Array>();
    const slotList = slots.map((slot) => {
      if (slotRole(slot) === null) return { slot };
      const seed = randomBytes(32);
      slotSeeds.set(slot, seed);
      return { slot, pubkey: toB64u(newIdentity(seed).publicKey) };
    });
    const row: ChannelRow = {
      ch, name: args.name, slot: 'owner', owner: this.me, relays, epoch: 0, closed: false, expires_at: expiresAt, created_at: Date.now(), status: 'active',
    };
    this.store.saveChannel(row);
    this.store.saveEpochKey(ch, 0, key);
    const channel = this.openChannel(row);
    channel.post('channel.create', { name: args.name, slots: slotList, relays, expires_at: expiresAt, owner_name: args.display_name ?? 'owner', salt });
    const invites: Record<string, string> = {};
    for (const [slot, seed] of slotSeeds) {
      const code = encodeInvite({ v: 1, relays, ch, ep: 0, key: toB64u(key), slot, slotSeed: toB64u(seed), name: args.name });
      invites[slot] = code;
      this.store.setSecret(ch, `invite:${slot}`, code);
    }
    return { channel: ch, name: args.name, slot: 'owner', invites, bots: [] as { slot: string; code_hash: string }[], relays, channelObj: channel };
  }

  async joinChannel(args: { invite_code: string; display_name?: string }) {
    let invite;
    try {
      invite = decodeInvite(args.invite_code);
    } catch (err) {
      throw new ToolError(err instanceof InviteError ? err.message : 'The invite code is not valid.');
    }
    const existing = this.channels.get(invite.ch) ?? this.openNow(invite.ch);
    if (existing) {
      const slot = existing.membership.slotOf(this.me);
      if (slot) return { channel: invite.ch, name: existing.row.name, slot, members: existing.membership.members(), pending: false };
    }
    const key = fromB64u(invite.key, 32)!;
    const row: ChannelRow = {
      ch: invite.ch, name: invite.name, slot: invite.slot, owner: '', relays: invite.relays, epoch: invite.ep, closed: false, expires_at: null, created_at: Date.now(), status: 'active',
    };
    const channel = existing ?? new Channel(this.store, row, this.identity, this.writer, this.pool);
    if (!existing) {
      channel.addEpochKey(invite.ep, key);
      channel.open();
    }
    const deadline = Date.now() + (this.opts.joinTimeoutMs ?? 10_000);
    let synced = await channel.waitSynced(deadline - Date.now());
    // Reachable but still downloading a long history: the slot check needs all of it, so keep waiting (bounded).
    if (!synced && channel.relays().some((r) => r.connected)) synced = await channel.waitSynced(JOIN_HISTORY_WAIT_MS);
    await channel.ingestIdle();
    const m = channel.membership;
    // A relay can be synced before the creator's first upload reaches it: give the history until the deadline.
    if (synced && m.owner === null) await waitFor(channel, 'event', () => m.owner !== null, deadline - Date.now());
    const fail = (message: string): never => {
      if (!existing) {
        channel.close();
        this.store.saveChannel({ ...row, status: 'rejected' });
      } else if (!existing.membership.isMember(this.me)) {
        this.channels.delete(invite.ch);
        existing.close();
        this.store.saveChannel({ ...existing.row, status: 'rejected' });
      }
      throw new ToolError(message);
    };
    if (!synced && m.owner === null) fail(`Could not reach any relay of this channel (${invite.relays.join(', ')}); check that the relay is running and try again.`);
    if (m.owner === null && channel.relays().some((r) => r.synced) && channel.replica().log.size === 0) {
      fail(`The channel's owner has not reached this relay yet (${invite.relays.join(', ')} has no history for this channel); try again once the owner's node has been online.`);
    }
    if (m.owner === null) fail('No valid channel.create for this invite arrived from its relays (the relays may be misbehaving); check the code and try again.');
    if (m.expiresAt !== null && Date.now() > m.expiresAt) fail('This channel has expired; it no longer accepts new members.');
    if (m.closed) fail('This channel is closed; it no longer accepts new members.');
    const register = () => {
      if (!existing) {
        this.channels.set(invite.ch, channel);
        this.watch(channel);
      }
      channel.saveRow({ name: m.name, owner: m.owner!, expires_at: m.expiresAt, closed: m.closed, relays: invite.relays, slot: m.slotOf(this.me) ?? invite.slot });
    };
    // Already a member (an identity restored into a new profile, or the owner coming back through any invite of
    // the channel): the history says so, nothing is claimed, and later epochs' keys come from the rotations.
    const mine = m.slotOf(this.me);
    if (mine) {
      register();
      return { channel: invite.ch, name: m.name, slot: mine, members: m.members(), pending: false };
    }
    if (m.isRemoved(this.me)) fail('You were removed from this channel (or left it); ask the owner for a new invite.');
    if (!m.hasSlot(invite.slot)) fail(`This channel has no slot ${invite.slot}; the invite code does not belong to it.`);
    if (m.isClosed(invite.slot)) fail(`The slot ${invite.slot} is closed (its member left or was removed), so this invite code no longer works; ask the owner for a new invite.`);
    const taken = (): boolean => {
      const holder = m.holder(invite.slot);
      return !!holder && holder.author !== this.me;
    };
    if (taken()) fail(`The slot ${invite.slot} was already claimed by another member; ask the owner for a new invite.`);
    register();
    if (!m.pendingClaimOf(this.me) && !m.holder(invite.slot)) {
      const slotSecret = newIdentity(fromB64u(invite.slotSeed, 32)!).secretKey;
      channel.post('member.join', {
        slot: invite.slot,
        name: args.display_name ?? invite.slot.slice(invite.slot.indexOf(':') + 1),
        slot_sig: toB64u(signSlotClaim(invite.ch, invite.slot, this.me, slotSecret)),
        entropy: toB64u(randomBytes(32)),
      });
    }
    // The owner's (or an admin's) node admits the first claim it sees; wait for that, or for a rival's admission.
    await waitFor(channel, 'event', () => m.holder(invite.slot) !== undefined || m.isClosed(invite.slot), this.opts.joinAdmitMs ?? joinAdmitMs(this.opts.env ?? process.env));
    if (taken() || m.isClosed(invite.slot)) fail(`The slot ${invite.slot} was claimed by another member at the same time; ask the owner for a new invite.`);
    const pending = m.holder(invite.slot)?.author !== this.me;
    return { channel: invite.ch, name: m.name, slot: invite.slot, members: m.members(), pending };
  }

  /** Messages and status changes share one per-channel rate limit: each is an event every member stores. */
  private takeRate(channel: Channel): void {
    const limited = this.rate.take(channel.ch);
    if (!limited.ok) throw new ToolError(`Rate limit reached for this channel; try again in ${Math.ceil(limited.retryAfterMs / 1000)} s.`);
  }

  private checkPostable(channel: Channel): void {
    const m = channel.membership;
    if (m.closed || channel.row.closed) throw new ToolError(`Channel "${channel.row.name}" is closed; no new messages can be posted.`);
    if (m.expiresAt !== null && Date.now() > m.expiresAt) throw new ToolError(`Channel "${channel.row.name}" expired at ${new Date(m.expiresAt).toISOString()}; no new messages can be posted.`);
    if (!m.canPost(this.me)) {
      const claim = m.pendingClaimOf(this.me);
      if (claim) throw new ToolError(`Your claim on ${claim.slot} in "${channel.row.name}" waits for the owner or an admin to admit you; you can read but not post until then (join_channel again to check).`);
      if (m.roleOf(this.me) === 'observer') throw new ToolError(`You are an observer in "${channel.row.name}": you can read but not post.`);
      throw new ToolError(`You are not a member of channel "${channel.row.name}" any more.`);
    }
  }

  async postMessage(args: { channel: string; body: string; kind?: string; to?: string; meta?: Record<string, unknown> }) {
    const channel = this.channel(args.channel);
    this.checkPostable(channel);
    const tooBig = checkBodySize(args.body, this.bodyLimit);
    if (tooBig) throw new ToolError(tooBig);
    this.takeRate(channel);
    const body = redactSecrets(args.body);
    const payload: Record<string, unknown> = { kind: args.kind ?? 'chat', body: body.text };
    const redacted = [...body.redacted];
    if (args.to) payload.to = args.to;
    if (args.meta) {
      const meta = redactJson(args.meta);
      payload.meta = meta.value;
      for (const r of meta.redacted) if (!redacted.includes(r)) redacted.push(r);
    }
    const id = this.postAs(channel, 'message', payload);
    // A channel just opened (woken from dormant, or at start-up) on a live connection is still syncing: give it that
    // moment before calling its post unsent.
    if (!channel.isSynced() && channel.relays().some((r) => r.connected && !r.refused)) await channel.waitSynced(OPEN_SYNC_WAIT_MS);
    return { id, redacted, ...unsentWarning(channel) };
  }

  /** Delivered messages after a cursor; waits up to `wait_seconds` for the first one if there are none yet. */
  async syncMessages(args: { channel?: string; cursor?: string; limit?: number; wait_seconds?: number }, signal?: AbortSignal) {
    const channel = args.channel ? this.channel(args.channel) : null;
    const scope = channel ? channel.ch : '*';
    let after: number;
    if (args.cursor !== undefined) {
      if (!/^\d{1,15}$/.test(args.cursor)) throw new ToolError('The cursor is not one this node issued; pass back the cursor from a previous sync_messages, or omit it.');
      after = Number(args.cursor);
    } else after = this.store.cursor(scope);
    const limit = Math.min(Math.max(args.limit ?? 50, 1), 500);
    const deadline = Date.now() + Math.min(args.wait_seconds ?? 0, MAX_WAIT_SECONDS) * 1000;
    for (;;) {
      const rows = this.store.messagesSince(channel?.ch ?? null, after, limit + 1);
      const more = rows.length > limit;
      const page = rows.slice(0, limit);
      const messages: Message[] = [];
      for (const r of page) {
        const c = this.channels.get(r.ch) ?? this.openNow(r.ch);
        if (c) messages.push(...renderEvent(r.dnum, r.id, parseStoredBody(r), this.renderContext(c)));
      }
      const next = page.length > 0 ? page[page.length - 1].dnum : after;
      if (messages.length > 0 || Date.now() >= deadline || signal?.aborted) {
        this.store.setCursor(scope, next);
        return { messages, cursor: String(next), more };
      }
      after = next;
      await this.waitForDelivery(deadline - Date.now(), channel?.ch ?? null, signal);
    }
  }

  private waitForDelivery(ms: number, ch: string | null, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('delivered', onDelivered);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const onDelivered = (which: string | null) => (which === null || ch === null || which === ch) && done();
      const timer = setTimeout(done, Math.max(0, ms));
      this.on('delivered', onDelivered);
      signal?.addEventListener('abort', done);
    });
  }

  renderContext(c: Channel) {
    return { membership: c.membership, verification: (stepId: string) => this.stepVerification(c, stepId) };
  }

  stepVerification(c: Channel, stepId: string): Verification | undefined {
    return c.bots.status(stepId);
  }

  who(args: { channel: string }) {
    const c = this.channel(args.channel);
    const online = c.online();
    const members = c.membership.members().map((m) => {
      const live = online.get(m.id);
      const status = live?.status ?? m.status;
      return {
        slot: m.slot, id: m.id, name: m.name, role: m.role, is_bot: false,
        online: m.id === this.me || online.has(m.id),
        ...(status ? { status } : {}),
        ...((live?.note ?? m.note) ? { note: live?.note ?? m.note } : {}),
      };
    });
    for (const slot of c.membership.botSlots()) members.push({ slot, id: slot, name: slot.slice(4), role: 'member', is_bot: true, online: true });
    const waiting = c.membership.pendingClaims().map((cl) => ({ slot: cl.slot, id: cl.author, name: cl.name }));
    return { members, waiting, withholding: c.withholding(), refused_relays: c.refusedRelays() };
  }

  listChannels() {
    return {
      channels: [...[...this.channels.values()].map((c) => ({
        channel: c.ch, name: c.row.name, slot: c.membership.slotOf(this.me) ?? c.row.slot, epoch: c.epoch,
        closed: c.row.closed || c.membership.closed,
        ...(c.membership.expiresAt !== null ? { expires_at: new Date(c.membership.expiresAt).toISOString() } : {}),
        relays: c.relays().map((r) => ({
          url: r.url,
          // Not while it refuses us: an open socket the relay is about to close is not a connection.
          connected: r.connected && !r.refused,
          synced: r.synced,
          ...(r.value_limit !== undefined ? { value_limit: r.value_limit } : {}),
          ...(r.refused ? { refused: r.refused } : {}),
        })),
      })),
      // Dormant: what the store says, and its rooms' state on each relay.
      ...[...this.dormant.values()].map((d) => ({
        ...storedEntry(d.row),
        relays: d.relays().map((r) => ({
          url: r.url, connected: r.connected && !r.refused, synced: r.synced, ...(r.refused ? { refused: r.refused } : {}),
        })),
      })),
      // Not opened yet (just after start-up): what the store says; relays are not connected until it opens.
      ...[...this.unopened.values()].map((r) => ({ ...storedEntry(r), relays: r.relays.map((url) => ({ url, connected: false })) }))],
    };
  }

  setStatus(args: { channel: string; status: 'working' | 'waiting' | 'blocked' | 'complete'; note?: string }) {
    const c = this.channel(args.channel);
    this.checkPostable(c);
    this.takeRate(c);
    c.setPresence({ status: args.status, ...(args.note ? { note: args.note } : {}) });
    this.postAs(c, 'member.status', { status: args.status, ...(args.note ? { note: args.note } : {}) });
    return { ok: true };
  }

  async updateChannel(args: { channel: string; name?: string; kick?: string; close?: boolean; role?: { slot: string; role: Role } }) {
    const c = this.channel(args.channel);
    const m = c.membership;
    if (args.name === undefined && args.kick === undefined && !args.close && !args.role) throw new ToolError('Nothing to change: pass name, kick, role or close.');
    if (!m.manages(this.me)) throw new ToolError('Only the channel owner or an admin can rename the channel or remove members.');
    if ((args.close || args.role) && m.owner !== this.me) throw new ToolError('Only the channel owner can close the channel or change roles.');
    if (m.closed) throw new ToolError(`Channel "${c.row.name}" is already closed.`);
    if (args.kick !== undefined) {
      if (!m.hasSlot(args.kick) || args.kick.startsWith('bot:')) throw new ToolError(`The channel has no member slot ${args.kick}.`);
      if (m.isClosed(args.kick)) throw new ToolError(`The slot ${args.kick} is already closed.`);
      if (m.holder(args.kick)?.role === 'admin' && m.owner !== this.me) throw new ToolError('Only the owner can remove an admin.');
      const held = m.holder(args.kick) !== undefined;
      // Removing a holder rotates the epoch once the kick is delivered here (deferred): report the new epoch.
      const before = c.epoch;
      const rotated = held ? waitFor(c, 'epoch', () => c.epoch > before, ROTATION_WAIT_MS) : Promise.resolve();
      this.postAs(c, 'member.kick', { slot: args.kick });
      await rotated;
    }
    if (args.role) {
      const holder = m.holder(args.role.slot);
      if (!holder) throw new ToolError(`Nobody holds the slot ${args.role.slot}; a role can only be given to a member.`);
      this.postAs(c, 'member.role', { slot: args.role.slot, role: args.role.role });
    }
    if (args.name !== undefined) this.postAs(c, 'channel.update', { name: args.name });
    if (args.close) this.postAs(c, 'channel.close', {});
    return { channel: c.ch, name: m.name, epoch: c.epoch, closed: m.closed };
  }

  async leaveChannel(args: { channel: string }) {
    const c = this.channel(args.channel);
    if (c.membership.owner === this.me && c.membership.members().length > 1) {
      throw new ToolError('The owner cannot leave a channel with members: hand ownership on first (update_channel role {slot, role: "owner"}).');
    }
    if (c.membership.isMember(this.me) && c.membership.owner !== this.me) {
      // The leave is sent on the room's next message once it is synced (in order, before the room is left); a
      // channel just opened syncs first. Unreachable relays get it if this profile ever joins again.
      if (!c.isSynced()) await c.waitSynced(OPEN_SYNC_WAIT_MS);
      this.postAs(c, 'member.leave', {});
    }
    c.saveRow({ status: 'left' });
    this.channels.delete(c.ch);
    c.close();
    return { ok: true };
  }

  async verifyChannel(args: { channel: string }) {
    const c = this.channel(args.channel);
    await c.ingestIdle();
    await c.bots.idle();
    const bots = c.bots.report();
    const problems = [...c.ingestor.report(), ...c.membership.problems(), ...bots.problems, ...c.withholding()];
    const ok = problems.length === 0 && bots.bots.every((b) => b.mismatches === 0);
    return { ok, events: this.store.deliveredCount(c.ch), bots: bots.bots, problems };
  }

  transcript(ref: string): string {
    const c = this.channel(ref);
    const lines: string[] = [`# ${c.row.name} (${c.ch})`];
    for (const r of this.store.deliveredAll(c.ch)) {
      for (const m of renderEvent(r.dnum, r.id, parseStoredBody(r), this.renderContext(c))) {
        lines.push(`[${m.seq}] ${new Date(m.ts).toISOString()} ${m.from} (${m.from_name}) ${m.kind}${m.to ? ` → ${m.to}` : ''}${m.verification ? ` [${m.verification}]` : ''}: ${m.body}`);
      }
    }
    return lines.join('\n');
  }

  audit(tool: string, channel: string | null, outcome: string): void {
    if (!this.closed) this.store.audit({ at: Date.now(), tool, channel, outcome });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    // Channels with nothing to do start dormant next time.
    this.putToSleep(Date.now(), true);
    for (const c of this.channels.values()) c.close();
    for (const d of this.dormant.values()) d.close();
    this.dormant.clear();
    this.channels.clear();
    this.unopened.clear();
    this.pool.destroy();
    this.store.close();
  }
}

/** A channel's entry in list_channels as its stored row has it (for channels not loaded). */
function storedEntry(r: ChannelRow) {
  return {
    channel: r.ch, name: r.name, slot: r.slot, epoch: r.epoch, closed: r.closed,
    ...(r.expires_at !== null ? { expires_at: new Date(r.expires_at).toISOString() } : {}),
  };
}

/** A warning for a post's result when no relay of the channel is in sync: the post is stored, not yet sent. */
function unsentWarning(channel: Channel): { warning?: string } {
  const relays = channel.relays();
  if (relays.some((r) => r.synced && !r.refused)) return {};
  const why = relays.map((r) => `${r.url}: ${r.refused ?? (r.connected ? 'still syncing' : 'unreachable')}`).join('; ');
  return { warning: `Stored locally but not sent yet: no relay of this channel accepts it right now (${why}). It is sent as soon as one does.` };
}

/** Resolves once `done()` holds, checked after each `event` the channel emits, or after `ms`. */
function waitFor(channel: Channel, event: 'event' | 'epoch', done: () => boolean, ms: number): Promise<void> {
  if (done() || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      channel.off(event, check);
      resolve();
    };
    const check = () => done() && finish();
    const timer = setTimeout(finish, ms);
    channel.on(event, check);
  });
}
