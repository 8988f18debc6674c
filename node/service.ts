/**
 * The participant node: identity, local store, its channels (node/channel-registry.ts) and the operations behind
 * each MCP tool, each in the module named for it (create, join, posting, reading, listing, members-ops). Every
 * operation validates its preconditions and throws ToolError with one sentence; the MCP layer turns that into
 * `isError: true`. The node emits 'delivered' (a channel id, or null) whenever something is delivered.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { memberId, type KeyPair } from '../protocol/keys.js';
import { ready } from '../protocol/sodium.js';
import type { Channel } from './channel.js';
import { ChannelRegistry } from './channel-registry.js';
import { parleyHome, parseRelayList } from './config.js';
import { type CreateArgs, createChannel } from './create.js';
import type { DormantChannel } from './dormant.js';
import { loadOrCreateIdentity } from './identity.js';
import { joinChannel } from './join.js';
import { limitsFromEnv, RateLimiter } from './limits.js';
import { type ListArgs, listChannels, who } from './listing.js';
import { leaveChannel, type UpdateArgs, updateChannel } from './members-ops.js';
import type { Verification } from './messages.js';
import type { NodeContext, NodeOptions } from './node-context.js';
import { type PostArgs, postMessage, type StatusArgs, setStatus } from './posting.js';
import { renderContext, stepVerification, type SyncArgs, syncMessages, transcript, verifyChannel } from './reading.js';
import { RelayPool } from './relay-connection.js';
import { type ChannelRow, LocalStore } from './store.js';

export type { NodeOptions } from './node-context.js';

export class ParleyNode extends EventEmitter {
  /**
   * Open channels. Active ones not opened yet are opened in background slices, and those with nothing to do are
   * `dormant`: linked to their relay rooms, not loaded, opened when something arrives or a tool names them.
   */
  readonly channels: Map<string, Channel>;
  readonly dormant: Map<string, DormantChannel>;
  readonly me: string;
  /** The node's connections, one per relay, shared by every channel and epoch. */
  readonly pool = new RelayPool();
  private readonly registry: ChannelRegistry;
  private readonly ctx: NodeContext;
  private closed = false;

  private constructor(
    readonly home: string,
    readonly store: LocalStore,
    readonly identity: KeyPair,
    readonly defaultRelays: string[],
    opts: NodeOptions,
  ) {
    super();
    this.setMaxListeners(0);
    this.me = memberId(identity.publicKey);
    const env = opts.env ?? process.env;
    const limits = limitsFromEnv(env);
    this.registry = new ChannelRegistry({
      home,
      store,
      identity,
      pool: this.pool,
      writer: randomUUID(),
      env,
      onDelivered: (ch) => this.emit('delivered', ch),
    });
    this.channels = this.registry.channels;
    this.dormant = this.registry.dormant;
    this.ctx = {
      me: this.me,
      store,
      defaultRelays,
      opts,
      env,
      registry: this.registry,
      rate: new RateLimiter({ limit: limits.ratePerMin, windowMs: 60_000 }),
      bodyLimit: limits.bodyLimitBytes,
      events: this,
      channel: (ref) => this.channel(ref),
    };
  }

  static async open(opts: NodeOptions = {}): Promise<ParleyNode> {
    await ready();
    const env = opts.env ?? process.env;
    const home = opts.home ?? parleyHome(env);
    const identity = loadOrCreateIdentity(home);
    const relays = opts.relays ?? parseRelayList(env.PARLEY_RELAY);
    return new ParleyNode(home, new LocalStore(home), identity, relays, opts);
  }

  /** Resolves once every channel active at start-up is open (the bench and tests wait for it; tools need not). */
  opened(): Promise<void> {
    return this.registry.opened();
  }

  /**
   * Once start-up is done (every channel active at start open or linked dormant), one line for stderr: how many
   * channels it started and how many of them dormant; null if the node closed first.
   */
  async started(): Promise<string | null> {
    await this.registry.opened();
    if (this.closed) return null;
    const n = this.registry.channels.size + this.registry.dormant.size;
    return `${n} channel(s) started, ${this.registry.startedDormant} dormant`;
  }

  /** Every active channel's stored row, open, dormant or not opened yet (cheap: nothing is loaded). */
  channelRows(): ChannelRow[] {
    return this.registry.rows();
  }

  /** Finds a channel by id or by its exact name. */
  channel(ref: string): Channel {
    const c = this.registry.find(ref);
    c.touch();
    return c;
  }

  createChannel(args: CreateArgs) {
    return createChannel(this.ctx, args);
  }

  async joinChannel(args: { invite_code: string; display_name?: string }) {
    return joinChannel(this.ctx, args);
  }

  async postMessage(args: PostArgs) {
    return postMessage(this.ctx, args);
  }

  async syncMessages(args: SyncArgs, signal?: AbortSignal) {
    return syncMessages(this.ctx, args, signal);
  }

  renderContext(c: Channel) {
    return renderContext(c);
  }

  stepVerification(c: Channel, stepId: string): Verification | undefined {
    return stepVerification(c, stepId);
  }

  who(args: { channel: string }) {
    return who(this.ctx, args);
  }

  listChannels(args: ListArgs = {}) {
    return listChannels(this.ctx, args);
  }

  setStatus(args: StatusArgs) {
    return setStatus(this.ctx, args);
  }

  async updateChannel(args: UpdateArgs) {
    return updateChannel(this.ctx, args);
  }

  async leaveChannel(args: { channel: string }) {
    return leaveChannel(this.ctx, args);
  }

  async verifyChannel(args: { channel: string }) {
    return verifyChannel(this.ctx, args);
  }

  transcript(ref: string): string {
    return transcript(this.ctx, ref);
  }

  audit(tool: string, channel: string | null, outcome: string): void {
    if (!this.closed) this.store.audit({ at: Date.now(), tool, channel, outcome });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.registry.close();
    this.pool.destroy();
    this.store.close();
  }
}
