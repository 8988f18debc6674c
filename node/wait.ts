/** Waiting on a channel's events for a condition, bounded by a time. */
import type { Channel } from './channel.js';

/** Resolves once `done()` holds, checked after each `event` the channel emits, or after `ms`. */
export function waitFor(channel: Channel, event: 'event' | 'epoch', done: () => boolean, ms: number): Promise<void> {
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
