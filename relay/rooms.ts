/**
 * The rooms one relay process holds in memory: loaded on first use, unloaded when idle (or to make room for a new
 * one), rung when another process appended to one, and kept by the periodic maintenance pass (idle unloading,
 * awareness expiry, the disk TTL, the quota recount, the store's own housekeeping).
 */
import type { RelayMetrics } from './metrics.js';
import type { RelayOptions } from './options.js';
import { Room } from './room.js';
import type { RelayStore, StoreUsage } from './store.js';

export class Rooms {
  private readonly rooms = new Map<string, Room>();
  private polling = false;
  private maintaining = false;

  constructor(
    private readonly store: RelayStore,
    private readonly metrics: RelayMetrics,
    private readonly opts: RelayOptions,
    readonly usage: StoreUsage,
    private readonly log: (line: string) => void,
  ) {}

  get size(): number {
    return this.rooms.size;
  }

  /** The room of that name, loaded; null if the relay holds as many rooms as it may and all are in use. */
  roomFor(name: string): Room | null {
    let room = this.rooms.get(name);
    if (room) return room;
    if (this.rooms.size >= this.opts.maxRooms && !this.unloadIdleRoom()) return null;
    room = new Room(name, this.store, this.metrics, this.opts, this.usage, this.log);
    this.rooms.set(name, room);
    return room;
  }

  /** Frees a slot by unloading the longest-idle room without connections; false if every room is in use. */
  private unloadIdleRoom(): boolean {
    let oldest: Room | null = null;
    for (const room of this.rooms.values()) {
      if (!room.busy && (!oldest || room.idleSince < oldest.idleSince)) oldest = room;
    }
    if (oldest) this.rooms.delete(oldest.name);
    return oldest !== null;
  }

  /** Another process appended to a room up to `cursor`: the room reads it back if it is loaded here. */
  ring(name: string, cursor: number, sentAt?: number): void {
    this.rooms.get(name)?.ring(cursor, sentAt);
  }

  /** Reads the heads of the loaded rooms and rings those another process moved (a lost notification only delays). */
  async poll(): Promise<void> {
    if (this.polling || this.rooms.size === 0) return;
    this.polling = true;
    try {
      for (const [name, head] of await this.store.heads([...this.rooms.keys()])) this.rooms.get(name)?.ring(head);
    } catch {
      // Store away: the status log line says so; the next poll tries again.
    } finally {
      this.polling = false;
    }
  }

  async maintain(): Promise<void> {
    if (this.maintaining) return;
    this.maintaining = true;
    const { store, opts, rooms } = this;
    try {
      const now = Date.now();
      for (const [name, room] of rooms) {
        if (!room.busy && now - room.idleSince > opts.roomIdleTtlMs) rooms.delete(name);
        else room.expireAwareness(now);
      }
      // Other processes expire rooms too: renew the ones in use here so none of them deletes a room this one serves.
      if (store.shared)
        await store.touch(
          [...rooms.values()].filter((r) => r.busy).map((r) => r.name),
          now,
        );
      const expired = opts.diskTtlMs > 0 ? await store.expire(now - opts.diskTtlMs, new Set(rooms.keys())) : [];
      // Expiry frees bytes, and with a shared store other processes add some: recount for the disk quota (a single
      // SQLite process otherwise knows its total from its own appends, and the recount is a scan).
      if (store.shared || expired.length > 0) this.usage.bytes = await store.usage();
      await store.maintain();
    } catch (err) {
      this.log(`maintenance: ${(err as Error).message}`);
    } finally {
      this.maintaining = false;
    }
  }

  /** Lets queued appends finish, then forgets every room (before the store closes under them). */
  async close(): Promise<void> {
    await Promise.all([...this.rooms.values()].map((r) => r.idle()));
    this.rooms.clear();
  }
}
